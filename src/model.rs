//! The vocabulary every stage of the analysis shares: what a request asked for ([`HitKind`]),
//! what its token turned out to be ([`TokenStatus`]), what it said about its client
//! ([`Headers`], [`AgentKey`]), where its address is ([`GeoInfo`]) and what the classifier made
//! of it ([`HitClass`]). Plain data with their names in `events.csv`; the stages that produce
//! them (`hit`, `enrich`, `classify`) and those that read them (`rules`, `aggregate`, `report`)
//! depend on this module, never on each other for these types.

/// How sure a verdict, or the rule behind it, is. The names are part of the `events.csv`
/// contract (its `certainty` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Certainty {
    /// The signal decides by itself: a machine that names itself, a network that carries no
    /// people, a fact of the request (no token, HEAD, a prefetch header).
    Certain,
    /// The signal points one way but people can send it too: a network that also carries
    /// people (decided only within the delivery window), a user-agent shape several clients
    /// share, a burst, a probe, and every human-looking hit.
    Probable,
}

impl Certainty {
    /// The name in `events.csv` and in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Certainty::Certain => "certain",
            Certainty::Probable => "probable",
        }
    }
}

/// What a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HitKind {
    /// A pixel URL.
    Open,
    /// A tracked link.
    Click,
    /// Anything else (favicons, scanners probing, junk request lines).
    Other,
}

impl HitKind {
    /// The name in `events.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            HitKind::Open => "open",
            HitKind::Click => "click",
            HitKind::Other => "other",
        }
    }
}

/// What the token in a request turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenStatus {
    /// Genuine, in the manifest, not expired at the time of the request.
    Valid,
    /// Malformed, signed with an unknown key, or with a signature that does not match.
    Forged,
    /// Genuine and in the manifest, but requested after its expiry.
    Expired,
    /// Genuinely signed but not in this manifest (another manifest, or a deleted row).
    Unknown,
    /// The request carried no token (kind `other`).
    None,
}

impl TokenStatus {
    /// The name in `events.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Valid => "valid",
            TokenStatus::Forged => "forged",
            TokenStatus::Expired => "expired",
            TokenStatus::Unknown => "unknown",
            TokenStatus::None => "none",
        }
    }
}

/// The class of a hit. Names are part of the `events.csv` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HitClass {
    /// Looks like a person's mail client or browser.
    Human,
    /// A mail provider's image proxy fetching on the reader's behalf (Gmail, Yahoo, Apple MPP).
    Proxy,
    /// A security gateway or link checker fetching every link.
    Scanner,
    /// Software: HTTP libraries, crawlers, unfurlers, prefetchers, HEAD requests.
    Bot,
    /// A repeat of a hit just counted.
    Duplicate,
    /// From your own network.
    Internal,
    /// No token, or a forged, expired or unknown one.
    Invalid,
}

impl HitClass {
    /// Every class, in report order.
    pub const ALL: [HitClass; 7] = [
        HitClass::Human,
        HitClass::Proxy,
        HitClass::Scanner,
        HitClass::Bot,
        HitClass::Duplicate,
        HitClass::Internal,
        HitClass::Invalid,
    ];

    /// The name in `events.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            HitClass::Human => "human",
            HitClass::Proxy => "proxy",
            HitClass::Scanner => "scanner",
            HitClass::Bot => "bot",
            HitClass::Duplicate => "duplicate",
            HitClass::Internal => "internal",
            HitClass::Invalid => "invalid",
        }
    }

    /// Position in [`HitClass::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a request said about its client besides its address: the method and the headers
/// pxtrack logs. A mail proxy or a reader's mail client sends the same ones on every request,
/// so the resolver stores each distinct combination once and events share it: one reference
/// per event instead of six, and one lookup per line instead of six.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    method: Box<str>,
    user_agent: Box<str>,
    referer: Box<str>,
    requested_with: Box<str>,
    purpose: Box<str>,
    accept_language: Box<str>,
    agent_key: AgentKey,
}

/// The decoded fields of a [`Headers`], borrowed; absent headers are empty.
#[derive(Debug, Default, Clone, Copy)]
pub struct HeaderFields<'a> {
    /// Request method; empty for a junk request line.
    pub method: &'a str,
    /// `User-Agent`.
    pub user_agent: &'a str,
    /// `Referer`.
    pub referer: &'a str,
    /// `X-Requested-With`.
    pub requested_with: &'a str,
    /// `Sec-Purpose` or, failing that, `Purpose`.
    pub purpose: &'a str,
    /// `Accept-Language`.
    pub accept_language: &'a str,
}

/// A user agent's key: a 64-bit hash of its text under a seed drawn once per process, so
/// equal agents have equal keys whichever worker read them, and the per-hit stages that key
/// maps by agent (duplicates, agent rules, client detection) hash eight bytes instead of a
/// hundred. Two different agents share a key with odds of 1 in 2^64, and the seed keeps a log's
/// author from choosing such a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AgentKey(u64);

impl AgentKey {
    /// The key of `user_agent`.
    pub fn of(user_agent: &str) -> Self {
        use std::hash::BuildHasher as _;
        static SEED: std::sync::LazyLock<foldhash::fast::RandomState> =
            std::sync::LazyLock::new(foldhash::fast::RandomState::default);
        AgentKey(SEED.hash_one(user_agent))
    }
}

impl Headers {
    /// Headers with these fields.
    pub fn new(f: HeaderFields<'_>) -> Self {
        Headers {
            method: f.method.into(),
            user_agent: f.user_agent.into(),
            referer: f.referer.into(),
            requested_with: f.requested_with.into(),
            purpose: f.purpose.into(),
            accept_language: f.accept_language.into(),
            agent_key: AgentKey::of(f.user_agent),
        }
    }

    /// Request method; empty for a junk request line.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// `User-Agent`.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The user agent's [`AgentKey`].
    pub fn agent_key(&self) -> AgentKey {
        self.agent_key
    }

    /// `Referer`.
    pub fn referer(&self) -> &str {
        &self.referer
    }

    /// `X-Requested-With`.
    pub fn requested_with(&self) -> &str {
        &self.requested_with
    }

    /// `Sec-Purpose` or, failing that, `Purpose`.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    /// `Accept-Language`.
    pub fn accept_language(&self) -> &str {
        &self.accept_language
    }
}

/// What GeoIP knows of an address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// City name in English.
    pub city: Option<String>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    pub org: Option<String>,
}
