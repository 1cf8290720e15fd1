//! Machine-level helpers, each behind one small interface: a cache prefetch hint, a byte
//! comparison that beats the C library's for short strings, huge pages for a table looked up at
//! random, and a thread's processor time. The stages call these instead of reaching for
//! intrinsics or system calls themselves; why each exists, with its measurement, is in
//! BENCHMARKS.md.

use std::sync::Arc;

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

/// [`prefetch`] for every cache line of the `len` bytes at `p`: a value need not start on a line,
/// so even one shorter than a line may straddle two.
#[inline(always)]
pub fn prefetch_bytes(p: *const u8, len: usize) {
    let last = p.wrapping_add(len.saturating_sub(1));
    let mut at = p;
    while (at as usize) < (last as usize) {
        prefetch(at);
        at = at.wrapping_add(64);
    }
    prefetch(last);
}

/// [`prefetch_bytes`] for the whole of `value` (not what it points to).
#[inline(always)]
pub fn prefetch_value<T>(value: &T) {
    prefetch_bytes(std::ptr::from_ref(value).cast(), std::mem::size_of::<T>());
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

/// Lowers the calling thread's priority by `steps` nice levels (to at most 19), on Linux; a
/// failure (a sandbox that forbids it) changes nothing but the speed.
///
/// For the parsing workers: on two cores the classifying thread is the one the run waits for,
/// and with three busy threads sharing two cores it got two thirds of one; its workers at 5
/// levels below it, the 10M-line benchmark took 3-16% less time in four series of interleaved
/// runs (nice 10 the same, 19 slower: the workers then starve it of parsed blocks). Relative,
/// so that a run started with `nice` keeps its workers below the rest of it and never raises
/// them above where the user put the process.
pub fn lower_thread_priority(steps: i32) {
    #[cfg(target_os = "linux")]
    {
        let me = Some(rustix::thread::gettid());
        if let Ok(now) = rustix::process::getpriority_process(me) {
            let _ = rustix::process::setpriority_process(me, (now + steps).min(19));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = steps;
}

/// Asks Linux to back the whole 2 MiB pages of `buf`'s allocation with huge pages (where
/// transparent huge pages are enabled, as Debian's `madvise` default allows); elsewhere nothing.
/// Call it before the vector is filled: pages already touched stay small until the kernel
/// collapses them.
///
/// For the tables every line looks up at random (the manifest's own URLs): with 4 KiB pages
/// each lookup also missed the processor's address cache, and the parsing workers stalled on
/// the page walk even where the lookup had been prefetched.
pub fn advise_huge_pages<T>(buf: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = buf.as_mut_ptr() as usize;
        let end = start + buf.capacity() * std::mem::size_of::<T>();
        let (from, to) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
        if to > from {
            // SAFETY: MADV_HUGEPAGE changes only how the kernel backs the range, never what it
            // holds, and the range lies inside the vector's own allocation.
            let _ = unsafe {
                rustix::mm::madvise(
                    from as *mut std::ffi::c_void,
                    to - from,
                    rustix::mm::Advice::LinuxHugepage,
                )
            };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

/// Log bytes as the per-line lookups compare them: `==` on these is [`same_bytes`], so a key
/// that a cache or table hands out as `LogBytes` cannot be compared with the C library's
/// `memcmp` by accident (comparing it with a plain `&[u8]` does not compile).
#[derive(Debug, Clone, Copy)]
#[repr(transparent)]
pub struct LogBytes<'a>(pub &'a [u8]);

impl PartialEq for LogBytes<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        same_bytes(self.0, other.0)
    }
}

impl Eq for LogBytes<'_> {}

/// A map keyed by the identity of shared values (their `Arc`'s address), each entry holding its
/// `Arc`, so that no other value can take that address while the entry is here. The stages
/// intern what repeats (a client's headers, a detection result, a GeoIP answer), so identity
/// stands for equality and a lookup hashes eight bytes instead of the value.
pub struct ArcMap<T: ?Sized, V> {
    map: foldhash::HashMap<usize, (Arc<T>, V)>,
}

impl<T: ?Sized, V> std::fmt::Debug for ArcMap<T, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ArcMap({} entries)", self.map.len())
    }
}

impl<T: ?Sized, V> Default for ArcMap<T, V> {
    fn default() -> Self {
        ArcMap {
            map: foldhash::HashMap::default(),
        }
    }
}

impl<T: ?Sized, V: Clone> Clone for ArcMap<T, V> {
    fn clone(&self) -> Self {
        ArcMap {
            map: self.map.clone(),
        }
    }
}

impl<T: ?Sized, V> ArcMap<T, V> {
    /// The value for `key`, inserted with `make` when `key` is new.
    #[inline]
    pub fn get_or_insert_with(&mut self, key: &Arc<T>, make: impl FnOnce() -> V) -> &mut V {
        &mut self
            .map
            .entry(Arc::as_ptr(key).cast::<u8>() as usize)
            .or_insert_with(|| (Arc::clone(key), make()))
            .1
    }

    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Every value, to change in place.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> + '_ {
        self.map.values_mut().map(|(_, v)| v)
    }

    /// Takes every entry out.
    pub fn drain(&mut self) -> impl Iterator<Item = (Arc<T>, V)> + '_ {
        self.map.drain().map(|(_, entry)| entry)
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

    #[test]
    fn arc_map_keys_by_identity_and_holds_its_keys() {
        let a = Arc::new(String::from("x"));
        let b = Arc::new(String::from("x"));
        let mut m: ArcMap<String, u32> = ArcMap::default();
        *m.get_or_insert_with(&a, || 0) += 1;
        *m.get_or_insert_with(&a, || 0) += 1;
        *m.get_or_insert_with(&b, || 0) += 1;
        assert_eq!(m.len(), 2, "equal values in two Arcs are two keys");
        assert_eq!(Arc::strong_count(&a), 2, "the map holds the key");
        let mut counts: Vec<u32> = m.drain().map(|(_, n)| n).collect();
        counts.sort();
        assert_eq!(counts, [1, 2]);
        assert!(m.is_empty());
    }
}
