//! Byte and substring search without run-time CPU feature detection.
//!
//! memchr's top-level functions pick AVX2 or SSE2 at their first call by
//! executing `cpuid`, which traps to the hypervisor in a virtual machine:
//! measured at about 60 µs per process on this project's VMs, more than a
//! whole index lookup, paid by every ADD, DEL and CHECK (the index's record
//! search and the debug log's test for `logFile` both use this module). SSE2 is part of
//! x86_64, so memchr's SSE2 routines need no detection; other architectures
//! (aarch64 has NEON as baseline) use memchr's own entry points.

/// The first `needle` in `haystack`.
pub fn byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        match memchr::arch::x86_64::sse2::memchr::One::new(needle) {
            Some(one) => one.find(haystack),
            None => haystack.iter().position(|b| *b == needle),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        memchr::memchr(needle, haystack)
    }
}

/// The first occurrence of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use memchr::arch::x86_64::sse2::packedpair::Finder;
        match Finder::new(needle) {
            Some(f) if haystack.len() >= f.min_haystack_len() => f.find(haystack, needle),
            _ => haystack
                .windows(needle.len().max(1))
                .position(|w| w == needle),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        memchr::memmem::find(haystack, needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        if needle.is_empty() {
            return Some(0);
        }
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn finds_the_debug_logs_key_at_any_offset() {
        for pad in 0..80 {
            let mut text = vec![b' '; pad];
            text.extend_from_slice(br#""logFile": "/x""#);
            assert_eq!(find(&text, b"logFile"), Some(pad + 1), "pad {pad}");
        }
        assert_eq!(find(b"{\"ipam\": {}}", b"logFile"), None);
    }

    proptest! {
        #[test]
        fn agrees_with_a_naive_search(
            haystack in proptest::collection::vec(0u8..4, 0..200),
            needle in proptest::collection::vec(0u8..4, 1..6),
            b in 0u8..4,
        ) {
            prop_assert_eq!(find(&haystack, &needle), naive(&haystack, &needle));
            prop_assert_eq!(byte(b, &haystack), haystack.iter().position(|x| *x == b));
        }
    }
}
