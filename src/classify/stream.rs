//! Classification in time order, holding each event for the burst window ([`Stream`]), so that
//! a scanner sweeping a message's links is recognised and its verdict reaches back to the
//! clicks before the burst; and the lookahead that brings each event's tables into cache.

use super::*;

/// A valid click still inside some burst window: its place in the stream, time and manifest row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecentClick {
    seq: u64,
    time_ms: i64,
    row: usize,
}

/// Classifies a stream of events in time order, holding each for the burst window: two or more
/// different links of one message clicked from one address within it are a scanner sweeping the
/// message (people click one link, read, maybe click another), and that verdict reaches back to
/// clicks already classified. Events come out in the order they went in, once no later event can
/// change their verdict; memory holds only the events of the last burst window.
pub struct Stream<'r> {
    classifier: Classifier<'r>,
    burst_ms: i64,
    pending: std::collections::VecDeque<(Event, Verdict)>,
    /// Sequence number of `pending[0]`.
    first_seq: u64,
    /// (message, client) -> its valid clicks of the last burst window.
    recent: HashMap<(u32, IpAddr), Vec<RecentClick>>,
    prune: PruneClock,
    /// Events pushed but not yet classified: see [`Stream::push`].
    arrivals: std::collections::VecDeque<Event>,
}

/// How many events [`Stream::push`] looks ahead.
pub(crate) const LOOKAHEAD: usize = 8;

impl<'r> Stream<'r> {
    /// A stream over a classifier.
    pub fn new(classifier: Classifier<'r>) -> Self {
        Stream {
            burst_ms: i64::from(classifier.rules.windows.burst_secs) * 1000,
            classifier,
            pending: std::collections::VecDeque::new(),
            first_seq: 0,
            recent: HashMap::new(),
            prune: PruneClock::default(),
            arrivals: std::collections::VecDeque::with_capacity(LOOKAHEAD + 1),
        }
    }

    /// Takes the next event (in time order) and passes on, to `out`, every held event that is
    /// now final.
    ///
    /// Classifying looks up the hit's message and the message's first activity, two tables of
    /// one entry per token or message: with tens of thousands of them the lookups miss the
    /// cache, and waiting for them would be most of the classifier's time. So an event is
    /// classified `LOOKAHEAD` (8) pushes after it arrives, and its entries are asked for on
    /// arrival and halfway, so that they are in cache by then. Order and verdicts are unchanged.
    pub fn push(&mut self, ev: Event, mut out: impl FnMut(Event, Verdict)) {
        let c = &self.classifier;
        if let Some(&row) = ev.row.as_ref() {
            prefetch(c.message_of_row.as_ptr().wrapping_add(row));
            prefetch(c.minted_ms.as_ptr().wrapping_add(row));
        }
        self.arrivals.push_back(ev);
        let n = self.arrivals.len();
        if let Some(m) = n
            .checked_sub(LOOKAHEAD / 2 + 1)
            .and_then(|i| self.arrivals[i].row)
            .and_then(|row| c.message_of_row.get(row))
        {
            prefetch(c.first_activity.as_ptr().wrapping_add(*m as usize));
            prefetch(c.sent_ms.as_ptr().wrapping_add(*m as usize));
        }
        if n > LOOKAHEAD {
            let ev = self.arrivals.pop_front().expect("more than LOOKAHEAD held");
            self.classify_next(ev, &mut out);
        }
    }

    /// Classifies `ev` and passes on, to `out`, every held event that is now final.
    fn classify_next(&mut self, ev: Event, out: &mut impl FnMut(Event, Verdict)) {
        let t = ev.time_ms;
        while self
            .pending
            .front()
            .is_some_and(|(e, _)| e.time_ms < t - self.burst_ms)
        {
            let (e, v) = self.pending.pop_front().expect("checked non-empty");
            self.first_seq += 1;
            out(e, v);
        }
        let verdict = self.classifier.classify(&ev);
        let seq = self.first_seq + self.pending.len() as u64;
        let burst_key = match (ev.kind, ev.token_status, ev.row) {
            (HitKind::Click, TokenStatus::Valid, Some(row)) => self
                .classifier
                .message_of_row
                .get(row)
                .map(|&m| ((m, ev.client), row)),
            _ => None,
        };
        self.pending.push_back((ev, verdict));
        if let Some((key, row)) = burst_key {
            let burst_ms = self.burst_ms;
            let window = self.recent.entry(key).or_default();
            window.retain(|c| t - c.time_ms <= burst_ms);
            window.push(RecentClick {
                seq,
                time_ms: t,
                row,
            });
            if window.iter().any(|c| c.row != window[0].row) {
                let n = window.len();
                for c in window.iter() {
                    let Some(i) = c.seq.checked_sub(self.first_seq) else {
                        continue;
                    };
                    let Some((e, v)) = self.pending.get_mut(i as usize) else {
                        continue;
                    };
                    if matches!(
                        v.class,
                        HitClass::Human | HitClass::Duplicate | HitClass::Proxy
                    ) {
                        *v = Verdict::new(
                            HitClass::Scanner,
                            self.classifier.details.click_burst.clone(),
                            format!(
                                "{n} different links of this message clicked from {} within {} s: \
                                 a scanner sweeping the message",
                                e.client,
                                self.burst_ms / 1000
                            ),
                        )
                        .probable();
                    }
                }
            }
        }
        if self.prune.due(t, self.burst_ms) {
            let burst_ms = self.burst_ms;
            self.recent
                .retain(|_, w| w.last().is_some_and(|c| t - c.time_ms <= burst_ms));
        }
    }

    /// Passes on every held event.
    pub fn finish(mut self, mut out: impl FnMut(Event, Verdict)) {
        while let Some(ev) = self.arrivals.pop_front() {
            self.classify_next(ev, &mut out);
        }
        for (e, v) in self.pending.drain(..) {
            out(e, v);
        }
    }
}
