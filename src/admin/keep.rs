//! The keep list of `podlease gc --keep`: JSON as in a CNI GC request, or
//! text, one `containerID ifname` per line.

use serde_json::Value;

use super::AdminError;
use crate::ids::{ContainerId, IfName, NameError};
use crate::ops::gc::ValidAttachment;

/// Parses the attachments to keep for `podlease gc --keep`: either JSON (a
/// list of `{"containerID": ..., "ifname": ...}`, or an object holding one
/// under `cni.dev/valid-attachments`, as in a CNI GC request), or text, one
/// `containerID ifname` per line (blank lines and `#` comments ignored).
/// Every name is validated, so a swapped or mangled line is an error rather
/// than an attachment that silently matches nothing.
///
/// # Errors
/// [`AdminError::Invalid`] naming the line or element.
pub fn parse_keep(text: &str) -> Result<Vec<ValidAttachment>, AdminError> {
    let trimmed = text.trim_start();
    let pairs = if trimmed.starts_with('[') || trimmed.starts_with('{') {
        keep_pairs_json(text)?
    } else {
        keep_pairs_text(text)?
    };
    let mut keep = Vec::with_capacity(pairs.len());
    for (place, id, ifname) in pairs {
        let bad = |what: &str, e: NameError| {
            AdminError::Invalid(format!("keep list: {place}: {what} {e}"))
        };
        ContainerId::new(&id).map_err(|e| bad("container id", e))?;
        IfName::new(&ifname).map_err(|e| bad("ifname", e))?;
        keep.push(ValidAttachment {
            container_id: id,
            ifname,
        });
    }
    Ok(keep)
}

/// (where, container id, ifname) of each element of a keep list.
type KeepPair = (String, String, String);

fn keep_pairs_json(text: &str) -> Result<Vec<KeepPair>, AdminError> {
    let invalid = |m: String| AdminError::Invalid(format!("keep list: {m}"));
    let root: Value = serde_json::from_str(text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let list = match &root {
        Value::Array(items) => items,
        Value::Object(m) => match m.get("cni.dev/valid-attachments") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(invalid(
                    "a JSON object must hold a \"cni.dev/valid-attachments\" list".into(),
                ));
            }
        },
        _ => return Err(invalid("expected a JSON list".into())),
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let field = |k: &str| match item.get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(invalid(format!("element {i}: {k} must be a string"))),
        };
        out.push((
            format!("element {i}"),
            field("containerID")?,
            field("ifname")?,
        ));
    }
    Ok(out)
}

fn keep_pairs_text(text: &str) -> Result<Vec<KeepPair>, AdminError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [id, ifname] = fields.as_slice() else {
            let n = n + 1;
            return Err(AdminError::Invalid(format!(
                "keep list: line {n}: expected \"containerID ifname\", found {line:?}"
            )));
        };
        out.push((
            format!("line {}", n + 1),
            (*id).to_owned(),
            (*ifname).to_owned(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_lists() {
        let text = "# kept\nabc eth0\n\n  def   net1  # trailing\n";
        let k = parse_keep(text).unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(
            (k[1].container_id.as_str(), k[1].ifname.as_str()),
            ("def", "net1")
        );
        let k = parse_keep(r#"[{"containerID":"abc","ifname":"eth0"}]"#).unwrap();
        assert_eq!(k[0].container_id, "abc");
        let k =
            parse_keep(r#"{"cni.dev/valid-attachments":[{"containerID":"abc","ifname":"eth0"}]}"#)
                .unwrap();
        assert_eq!(k.len(), 1);
        assert!(parse_keep("").unwrap().is_empty());
        assert!(parse_keep("[]").unwrap().is_empty());
        for bad in [
            "abc",
            "abc eth0 x",
            "../x eth0",
            "abc a/b",
            "[{\"containerID\":\"abc\"}]",
            "[1]",
            "{}",
            "[",
            "\"x\"",
        ] {
            assert!(
                matches!(parse_keep(bad), Err(AdminError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
