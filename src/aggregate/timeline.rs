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
    /// Granule start (seconds since the epoch) and the opens and clicks by class in it, in
    /// order of granule.
    pub counts: Vec<(i64, [ClassCounts; 2])>,
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
            counts: Vec::new(),
        }
    }
}

impl TimeCounts {
    /// Counts an open (`kind` 0) or click (`kind` 1).
    pub fn add(&mut self, ms: i64, kind: usize, class: HitClass) {
        let g = self.granule_secs;
        let key = (ms / 1000).div_euclid(g) * g;
        // Events come in time order: nearly always the last granule (a search of a tree of
        // granules per event was 5% of the classifying thread).
        let i = match self.counts.last() {
            Some(&(last, _)) if last == key => self.counts.len() - 1,
            _ => match self.counts.binary_search_by_key(&key, |&(k, _)| k) {
                Ok(i) => i,
                Err(i) => {
                    self.counts.insert(i, (key, [[0; 7]; 2]));
                    i
                }
            },
        };
        self.counts[i].1[kind][class.index()] += 1;
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
        let mut wider: Vec<(i64, [ClassCounts; 2])> = Vec::new();
        for (k, v) in std::mem::take(&mut self.counts) {
            let w = k.div_euclid(g) * g;
            if wider.last().is_none_or(|&(last, _)| last != w) {
                wider.push((w, [[0; 7]; 2]));
            }
            let slot = &mut wider.last_mut().expect("pushed above").1;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the timeline must hold: every event counted in its granule, granules in order, by
    /// a map (as the timeline once was).
    fn by_map(t: &TimeCounts, events: &[(i64, usize, HitClass)]) -> Vec<(i64, [ClassCounts; 2])> {
        let g = t.granule_secs;
        let mut m: BTreeMap<i64, [ClassCounts; 2]> = BTreeMap::new();
        for &(ms, kind, class) in events {
            m.entry((ms / 1000).div_euclid(g) * g)
                .or_insert([[0; 7]; 2])[kind][class.index()] += 1;
        }
        m.into_iter().collect()
    }

    #[test]
    fn granules_in_order_whatever_the_arrival_and_widened_without_loss() {
        // Mostly in time order, some late, some before the epoch; spans enough minutes to
        // widen to hours and then to days.
        let mut events = Vec::new();
        let mut state = 7u64;
        for i in 0..40_000i64 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let jitter = (state >> 33) as i64 % 600_000;
            let ms = i * 120_000 - jitter - 86_400_000;
            let class =
                [HitClass::Human, HitClass::Proxy, HitClass::Bot][(state >> 20) as usize % 3];
            events.push((ms, (state >> 40) as usize % 2, class));
        }
        let mut t = TimeCounts::default();
        for (n, &(ms, kind, class)) in events.iter().enumerate() {
            t.add(ms, kind, class);
            if n == 500 {
                assert_eq!(t.granule_secs, 60);
                assert_eq!(t.counts, by_map(&t, &events[..=n]));
            }
        }
        assert_eq!(t.granule_secs, 86_400, "widened twice");
        assert!(t.counts.len() <= MAX_GRANULES);
        assert_eq!(t.counts, by_map(&t, &events));
    }
}
