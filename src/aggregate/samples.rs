//! The hits the pages show, kept small: 80 bytes each, their texts numbers into one table of
//! shared values ([`Samples`]), so that half a million samples cost tens of megabytes.

use super::*;
use crate::fast::ArcMap;
use crate::model::Certainty;

/// What the pages show of one hit: a kept copy of the few fields a hit row needs.
///
/// Up to some 400,000 are kept (five per token, more per link and campaign), so a sample is
/// compact: its texts are numbers in [`Samples`]' table rather than shared strings (a wide
/// pointer each), which halves it to 80 bytes.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Request time, ms.
    pub time_ms: i64,
    /// Where the line came from.
    pub source: Source,
    /// GeoIP, when on.
    pub geo: Option<Arc<GeoInfo>>,
    /// Manifest row, `u32::MAX` for none (see [`Sample::row`]).
    row: u32,
    /// Method and headers.
    headers: u32,
    /// Email client or browser name.
    pub client_name: TextId,
    /// The verdict's detail.
    pub detail: TextId,
    /// The verdict's reason.
    pub reason: TextId,
    /// Client address.
    pub client: IpAddr,
    /// Response status.
    pub status: u16,
    /// Pixel, link or other.
    pub kind: HitKind,
    /// The token's verdict.
    pub token_status: TokenStatus,
    /// The class.
    pub class: HitClass,
    /// How sure the class is.
    pub certainty: Certainty,
}

/// A text of a [`Sample`]: an index into [`Samples`]' table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextId(u32);

/// The kept hits and the texts they show, each distinct text once.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    list: Vec<Sample>,
    texts: Numbered<str>,
    headers: Numbered<Headers>,
}

/// Shared values, numbered in the order they were first seen.
#[derive(Debug)]
pub(crate) struct Numbered<T: ?Sized> {
    values: Vec<Arc<T>>,
    /// A value (by identity) -> its number.
    numbers: ArcMap<T, u32>,
}

impl<T: ?Sized> Default for Numbered<T> {
    fn default() -> Self {
        Numbered {
            values: Vec::new(),
            numbers: ArcMap::default(),
        }
    }
}

impl<T: ?Sized> Clone for Numbered<T> {
    fn clone(&self) -> Self {
        Numbered {
            values: self.values.clone(),
            numbers: self.numbers.clone(),
        }
    }
}

impl<T: ?Sized> Numbered<T> {
    pub(crate) fn number(&mut self, value: &Arc<T>) -> u32 {
        let values = &mut self.values;
        *self.numbers.get_or_insert_with(value, || {
            values.push(value.clone());
            (values.len() - 1) as u32
        })
    }
}

impl Samples {
    /// Keeps a copy of a classified event and returns its index.
    pub fn push(&mut self, c: &Classified) -> u32 {
        let e = &c.event;
        let sample = Sample {
            time_ms: e.time_ms,
            source: e.source,
            geo: e.geo.clone(),
            row: e
                .row
                .and_then(|r| u32::try_from(r).ok())
                .filter(|&r| r != u32::MAX)
                .unwrap_or(u32::MAX),
            headers: self.headers.number(&e.headers),
            client_name: self.text_id(&c.client.client),
            detail: self.text_id(&c.verdict.detail),
            reason: self.text_id(&c.verdict.reason),
            client: e.client,
            status: e.status,
            kind: e.kind,
            token_status: e.token_status,
            class: c.verdict.class,
            certainty: c.verdict.certainty,
        };
        self.list.push(sample);
        (self.list.len() - 1) as u32
    }

    pub(crate) fn text_id(&mut self, text: &Arc<str>) -> TextId {
        TextId(self.texts.number(text))
    }

    /// The text behind an id.
    pub fn text(&self, id: TextId) -> &str {
        &self.texts.values[id.0 as usize]
    }

    /// The method and headers of a sample.
    pub fn headers(&self, sample: &Sample) -> &Headers {
        &self.headers.values[sample.headers as usize]
    }

    /// How many samples are kept.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl std::ops::Index<usize> for Samples {
    type Output = Sample;

    fn index(&self, i: usize) -> &Sample {
        &self.list[i]
    }
}

impl Sample {
    /// The manifest row, if the hit named one.
    pub fn row(&self) -> Option<usize> {
        (self.row != u32::MAX).then_some(self.row as usize)
    }

    /// The GeoIP country, if known.
    pub fn country(&self) -> Option<&str> {
        self.geo.as_ref().and_then(|g| g.country.as_deref())
    }
}
