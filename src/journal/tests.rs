use std::fs;
use std::io::Write;
use std::net::IpAddr;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rec(t: i64, event: Event, addr: &str, id: &str, reason: Reason) -> Record {
    Record {
        time: t,
        event,
        address: ip(addr),
        container_id: Some(id.into()),
        ifname: Some("eth0".into()),
        pod: Some(format!("ns/{id}")),
        reason,
        note: None,
    }
}

#[test]
fn times_round_trip_and_parse() {
    for ms in [0, 1_764_445_277_123, 951_782_400_000, -1000] {
        assert_eq!(parse_time(&format_time_ms(ms)), Some(ms), "{ms}");
    }
    assert_eq!(format_time_ms(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(parse_time("2000-02-29"), Some(951_782_400_000));
    assert_eq!(parse_time("2000-02-29T00:00:00Z"), Some(951_782_400_000));
    assert_eq!(
        parse_time("2000-02-29 01:00:00+01:00"),
        Some(951_782_400_000)
    );
    assert_eq!(
        parse_time("2000-02-28T23:00:00-01:00"),
        Some(951_782_400_000)
    );
    assert_eq!(parse_time("2000-02-29T00:00:00.5Z"), Some(951_782_400_500));
    assert_eq!(parse_time("2000-02-29T00:00:00"), Some(951_782_400_000));
    assert_eq!(parse_time("@951782400"), Some(951_782_400_000));
    for bad in [
        "",
        "yesterday",
        "2000-13-01",
        "2000-02-29T25:00:00Z",
        "2000-02-29T00:00:00.Z",
        "2000-02-29T00:00:00+0100",
        "2000-2-29",
        "@x",
    ] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
}

#[test]
fn tenures_pair_allocations_with_releases() {
    use Event::{Allocate, Release};
    let records = vec![
        // Released before the journal saw it allocated.
        rec(5, Release, "10.0.0.9", "old", Reason::Reclaim),
        rec(10, Allocate, "10.0.0.2", "a", Reason::Add),
        rec(20, Release, "10.0.0.2", "a", Reason::Del),
        rec(30, Allocate, "10.0.0.2", "b", Reason::Add),
        // Its release was lost: the next allocation ends it.
        rec(40, Allocate, "10.0.0.2", "c", Reason::Add),
    ];
    let t = tenures(&records);
    let who: Vec<&str> = t
        .iter()
        .map(|t| t.container_id.as_deref().unwrap())
        .collect();
    assert_eq!(who, ["c", "b", "a", "old"]);
    let [c, b, a, old] = t.as_slice() else {
        panic!()
    };
    assert_eq!((c.from, c.to, c.end_unknown), (Some(40), None, false));
    assert!(c.covers(1000) && !c.covers(39));
    assert!(b.end_unknown && !b.covers(35));
    assert_eq!(
        (a.from, a.to, a.to_reason),
        (Some(10), Some(20), Some(Reason::Del))
    );
    assert!(a.covers(10) && a.covers(19) && !a.covers(20) && !a.covers(9));
    assert_eq!((old.from, old.to), (None, Some(5)));
    assert!(old.covers(-100) && !old.covers(5));
    assert!(a.overlaps(Some(15), Some(16)));
    assert!(a.overlaps(Some(20), None));
    assert!(!a.overlaps(Some(21), None));
    assert!(!a.overlaps(None, Some(9)));
}

#[test]
fn records_serialise_as_one_line_and_read_back() {
    let r = rec(
        1_764_445_277_123,
        Event::Allocate,
        "2001:db8::2",
        "x",
        Reason::Add,
    );
    let line = serde_json::to_string(&r).unwrap();
    assert!(!line.contains('\n'));
    assert!(
        line.contains("\"time\":\"2025-11-29T19:41:17.123Z\""),
        "{line}"
    );
    assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
    let long = "a".repeat(5000);
    let cut = Record::now(Event::Release, ip("10.0.0.1"), Reason::Gc).by(&long, None);
    assert!(cut.container_id.unwrap().len() < 600);
}

#[test]
fn rotation_keeps_n_files_and_reads_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    let opts = JournalOptions {
        enabled: true,
        max_files: 3,
        max_bytes: MIN_MAX_BYTES,
    };
    for n in 0..200 {
        let mut j = Journal::new(path.clone(), opts);
        j.push(rec(
            n,
            Event::Allocate,
            "10.0.0.2",
            &format!("c{n}"),
            Reason::Add,
        ));
        j.flush();
        assert!(j.failure().is_none());
    }
    assert!(path.exists() && rotated(&path, 1).exists() && rotated(&path, 2).exists());
    assert!(!rotated(&path, 3).exists());
    for p in [path.clone(), rotated(&path, 1), rotated(&path, 2)] {
        assert!(fs::metadata(&p).unwrap().len() <= MIN_MAX_BYTES);
    }
    let read = read(&path).unwrap();
    let times: Vec<i64> = read.records.iter().map(|r| r.time).collect();
    assert_eq!(times.last(), Some(&199));
    assert!(times.windows(2).all(|w| w[1] == w[0] + 1), "{times:?}");
    assert!(
        read.start().unwrap() > 0,
        "the oldest records were rotated away"
    );
    assert_eq!(read.files.len(), 3);
    assert!(
        read.files
            .iter()
            .all(|f| f.bad_lines.is_empty() && !f.torn_end)
    );

    // A torn last line and a garbage line are reported, not fatal.
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"garbage\n{\"time\":")
        .unwrap();
    let again = super::read(&path).unwrap();
    assert_eq!(again.records.len(), read.records.len());
    assert!(again.files[0].torn_end);
    assert_eq!(again.files[0].bad_lines.len(), 1);
}

#[test]
fn a_failing_write_is_remembered_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join(FILE_NAME);
    let tap = Tap::default();
    let mut j = Journal::new(path, JournalOptions::default()).with_tap(Some(tap.clone()));
    j.push(Record::now(Event::Allocate, ip("10.0.0.2"), Reason::Add));
    j.flush();
    assert!(j.failure().is_some());
    // The debug log still sees the record, and why it was not written.
    let seen = tap.take();
    assert_eq!(seen.records.len(), 1);
    assert!(seen.failure.is_some());

    let mut off = Journal::new(
        dir.path().join(FILE_NAME),
        JournalOptions {
            enabled: false,
            ..JournalOptions::default()
        },
    );
    off.push(Record::now(Event::Allocate, ip("10.0.0.2"), Reason::Add));
    off.flush();
    assert!(!dir.path().join(FILE_NAME).exists());
}

#[test]
fn a_symlink_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::write(&elsewhere, "not ours\n").unwrap();
    let path = dir.path().join(FILE_NAME);
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
    let mut j = Journal::new(path, JournalOptions::default());
    j.push(Record::now(Event::Allocate, ip("10.0.0.2"), Reason::Add));
    j.flush();
    assert!(j.failure().unwrap().contains("not a regular file"));
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "not ours\n");
}

#[test]
fn a_fifo_is_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    let st = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    // Both would block forever on open if they tried.
    let mut j = Journal::new(path.clone(), JournalOptions::default());
    j.push(Record::now(Event::Allocate, ip("10.0.0.2"), Reason::Add));
    j.flush();
    assert!(j.failure().unwrap().contains("not a regular file"));
    assert!(read(&path).is_err());
}
