//! Machine-level helpers, each behind one small interface: a cache prefetch hint, a byte
//! comparison that beats the C library's for short strings, and a thread's processor time. The
//! stages call these instead of reaching for intrinsics or system calls themselves; why each
//! exists, with its measurement, is in BENCHMARKS.md.

/// Asks the processor to bring `p`'s cache line in, without waiting for it. The per-event loops
/// after parsing (classify, aggregate, `events.csv`) use it to overlap their cache misses on
/// records that are one per token or message.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it reads nothing and never faults, whatever the
    // address. The intrinsic is unsafe only because it is gated on SSE, which every x86_64
    // processor has.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Whether two byte strings are equal, compared eight bytes at a time in plain code.
///
/// `==` on slices calls the C library's `memcmp`, and glibc picks its AVX-512 version on the
/// machines pxtrack is benchmarked on. For the short strings compared for every line (a
/// line's headers and request target against the cached ones, a request's
/// `X-Requested-With`) that version costs several times a plain loop: on the 10M-line
/// benchmark, comparing a line's headers with `==` takes 2.3 s more processor time than
/// with this.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().expect("chunks of eight"));
    (&mut a8).zip(&mut b8).all(|(x, y)| word(x) == word(y))
        && a8
            .remainder()
            .iter()
            .zip(b8.remainder())
            .all(|(x, y)| x == y)
}

/// Processor time the calling thread has used so far, in seconds (Linux; elsewhere 0): what
/// `PXTRACK_TIMINGS` reports per thread, since on two cores the threads' sum is what bounds a
/// run, and the slowest thread's share shows where to look.
pub fn thread_cpu_secs() -> f64 {
    #[cfg(target_os = "linux")]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
    }
    #[cfg(not(target_os = "linux"))]
    {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn same_bytes_agrees_with_eq(a: Vec<u8>, b: Vec<u8>, cut in 0usize..40) {
            proptest::prop_assert_eq!(same_bytes(&a, &b), a == b);
            // Equal lengths, differing anywhere (or not at all).
            let mut c = a.clone();
            if let Some(x) = c.get_mut(cut.min(a.len().saturating_sub(1))) {
                *x ^= 1;
            }
            proptest::prop_assert_eq!(same_bytes(&a, &c), a == c);
            proptest::prop_assert!(same_bytes(&a, &a.clone()));
        }
    }
}
