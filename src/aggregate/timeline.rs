//! Opens and clicks by class over time, in granules that widen (minutes, hours, days) past
//! [`MAX_GRANULES`], so a timeline's size is bounded whatever the log's span.

use super::*;

/// Opens and clicks by class over time, at the finest granularity the eventual chart may need:
/// minutes, coarsened to hours and then days when the activity spans too many of them (a chart of
/// a span that long has buckets of whole hours or whole days, so no precision is lost), which
/// bounds memory by a constant however long the log.
#[derive(Debug, Clone)]
pub struct TimeCounts {
    /// Granule width, seconds: 60, 3600 or 86,400.
    pub granule_secs: i64,
    /// Granule start (seconds since the epoch) -> opens and clicks by class.
    pub counts: BTreeMap<i64, [ClassCounts; 2]>,
}

/// Past this many granules the granule widens. The chart's buckets (see `report::chart`: at
/// most 60 of them) are whole hours once the span passes 15 hours and whole days once it
/// passes 15 days; a thousand distinct minutes span more than 16 hours, a thousand distinct
/// hours more than 41 days, so widening then loses nothing the chart shows. The bound was
/// 20,000, which kept some 13 MiB of granules over five campaigns on a long log: most of the
/// memory a longer log added.
pub(crate) const MAX_GRANULES: usize = 1_000;

impl Default for TimeCounts {
    fn default() -> Self {
        TimeCounts {
            granule_secs: 60,
            counts: BTreeMap::new(),
        }
    }
}

impl TimeCounts {
    /// Counts an open (`kind` 0) or click (`kind` 1).
    pub fn add(&mut self, ms: i64, kind: usize, class: HitClass) {
        let g = self.granule_secs;
        let key = (ms / 1000).div_euclid(g) * g;
        self.counts.entry(key).or_insert([[0; 7]; 2])[kind][class.index()] += 1;
        if self.counts.len() > MAX_GRANULES {
            self.widen();
        }
    }

    pub(crate) fn widen(&mut self) {
        let g = match self.granule_secs {
            60 => 3600,
            _ => 86_400,
        };
        if g == self.granule_secs {
            return;
        }
        let mut wider: BTreeMap<i64, [ClassCounts; 2]> = BTreeMap::new();
        for (k, v) in std::mem::take(&mut self.counts) {
            let slot = wider.entry(k.div_euclid(g) * g).or_insert([[0; 7]; 2]);
            for kind in 0..2 {
                for c in 0..7 {
                    slot[kind][c] += v[kind][c];
                }
            }
        }
        self.granule_secs = g;
        self.counts = wider;
    }
}
