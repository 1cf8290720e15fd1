//! Network rules flattened into tables of disjoint address ranges, searched by bisection among
//! the few ranges of the address's block: the longest prefix that covers an address wins, found
//! in one search instead of one per prefix length.

/// Networks flattened into disjoint ranges of addresses that cover the whole family, each
/// with the rule of the longest registered prefix over it, found by binary search among the
/// ranges of the address's block (its top twelve bits).
///
/// Every hit's address is matched. Hashing the address cut to each prefix length the rules use
/// would take one probe per length (nine for the built-in IPv4 rules), and a cache in front of
/// it would keep starting over on a log of many clients (a scanner's address pool). The
/// built-in rules make about forty ranges: most blocks lie inside one, and an address is found
/// with no compare at all. A large list (Apple's relay list, a few hundred thousand prefixes,
/// most of them IPv6 under a few blocks) still takes a binary search within the blocks it
/// crowds. The search over the whole table (six compares for the built-in rules) was 4% of the
/// classifying thread.
#[derive(Debug, Clone)]
pub(crate) struct RangeTable<A> {
    /// The first address of each range, ascending; the first is 0.
    pub(crate) starts: Vec<A>,
    /// The rule of each range, or [`NO_RULE`].
    pub(crate) rules: Vec<u32>,
    /// For each of the [`BUCKETS`] blocks of addresses with the same top bits, the range its
    /// first address is in, and one more entry, the last range: an address's range is between
    /// its block's and the next block's, so the search is over those few.
    index: Vec<u32>,
}

/// log2 of the blocks [`RangeTable::index`] has: 4,096 of them, 16 KiB, which stays in cache.
const BUCKET_BITS: u32 = 12;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// A range that no registered network covers.
pub(crate) const NO_RULE: u32 = u32::MAX;

/// An address as a number: IPv4 as `u32`, IPv6 as `u128`.
pub(crate) trait Address: Copy + Ord + Default {
    /// The next address, if any.
    fn next(self) -> Option<Self>;
    /// The block of [`RangeTable::index`] the address is in: its top [`BUCKET_BITS`] bits.
    fn bucket(self) -> usize;
    /// The first address of block `b`.
    fn bucket_start(b: usize) -> Self;
}

impl Address for u32 {
    fn next(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn bucket(self) -> usize {
        (self >> (u32::BITS - BUCKET_BITS)) as usize
    }
    fn bucket_start(b: usize) -> Self {
        (b as u32) << (u32::BITS - BUCKET_BITS)
    }
}

impl Address for u128 {
    fn next(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn bucket(self) -> usize {
        (self >> (u128::BITS - BUCKET_BITS)) as usize
    }
    fn bucket_start(b: usize) -> Self {
        (b as u128) << (u128::BITS - BUCKET_BITS)
    }
}

impl<A: Address> Default for RangeTable<A> {
    fn default() -> Self {
        RangeTable {
            starts: vec![A::default()],
            rules: vec![NO_RULE],
            index: vec![0; BUCKETS + 1],
        }
    }
}

impl<A: Address> RangeTable<A> {
    /// Builds the table from networks given as (first, last address, rule), none listed twice.
    pub(crate) fn new(mut nets: Vec<(A, A, u32)>) -> Self {
        // CIDR networks are nested or disjoint. In order of first address, widest first, each
        // network opens inside those still open, and the innermost open one is the longest
        // prefix: a stack.
        nets.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut table = RangeTable::default();
        let mut open: Vec<(A, u32)> = Vec::new();
        for (first, last, rule) in nets {
            table.close(&mut open, Some(first));
            table.set(first, rule);
            open.push((last, rule));
        }
        table.close(&mut open, None);
        table.index = (0..BUCKETS)
            .map(|b| table.range_of(A::bucket_start(b), 0, table.starts.len() - 1))
            .chain([table.starts.len() as u32 - 1])
            .collect();
        table
    }

    /// The range `addr` is in, knowing it is one of ranges `lo..=hi`.
    fn range_of(&self, addr: A, lo: usize, hi: usize) -> u32 {
        // starts[lo] <= addr: the count is at least 1.
        (lo + self.starts[lo + 1..=hi].partition_point(|&s| s <= addr)) as u32
    }

    /// Closes the open networks that end before `before` (all of them for `None`): the
    /// address after each belongs to the network around it, or to none.
    pub(crate) fn close(&mut self, open: &mut Vec<(A, u32)>, before: Option<A>) {
        while let Some(&(last, _)) = open.last() {
            if before.is_some_and(|b| last >= b) {
                break;
            }
            open.pop();
            if let Some(after) = last.next() {
                self.set(after, open.last().map_or(NO_RULE, |o| o.1));
            }
        }
    }

    /// Starts a range of `rule` at `at`, after every range so far.
    pub(crate) fn set(&mut self, at: A, rule: u32) {
        let end = self.starts.len() - 1;
        if self.starts[end] == at {
            self.rules[end] = rule;
            if end > 0 && self.rules[end - 1] == rule {
                self.starts.pop();
                self.rules.pop();
            }
        } else if self.rules[end] != rule {
            self.starts.push(at);
            self.rules.push(rule);
        }
    }

    /// The rule over `addr`.
    pub(crate) fn get(&self, addr: A) -> Option<u32> {
        // The range of the block's first address starts at or before `addr`, and the range
        // of the next block's first address ends at or after it.
        let b = addr.bucket();
        let (lo, hi) = (self.index[b] as usize, self.index[b + 1] as usize);
        let i = self.range_of(addr, lo, hi) as usize;
        Some(self.rules[i]).filter(|&r| r != NO_RULE)
    }
}
