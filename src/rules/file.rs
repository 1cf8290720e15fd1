//! The rules file as written (`builtin.toml`, or the user's `[classify] rules`): the raw
//! sections serde reads, before `Rules` checks and indexes them.

use super::*;

/// A rules file's `[windows]`: any of them; the rest keep the values in force.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWindows {
    pub(crate) delivery_secs: Option<u32>,
    pub(crate) burst_secs: Option<u32>,
    pub(crate) probe_secs: Option<u32>,
    pub(crate) instant_secs: Option<u32>,
}

impl RawWindows {
    pub(crate) fn over(self, w: Windows) -> Windows {
        Windows {
            delivery_secs: self.delivery_secs.unwrap_or(w.delivery_secs),
            burst_secs: self.burst_secs.unwrap_or(w.burst_secs),
            probe_secs: self.probe_secs.unwrap_or(w.probe_secs),
            instant_secs: self.instant_secs.unwrap_or(w.instant_secs),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub(crate) windows: Option<RawWindows>,
    #[serde(default)]
    pub(crate) user_agent: Vec<RawUa>,
    #[serde(default)]
    pub(crate) network: Vec<RawNet>,
    #[serde(default)]
    pub(crate) asn: Vec<RawAsn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUa {
    #[serde(rename = "match")]
    pub(crate) kind: UaMatch,
    pub(crate) pattern: String,
    pub(crate) class: String,
    pub(crate) detail: String,
    #[serde(default)]
    pub(crate) machine_open: bool,
    #[serde(default = "certain")]
    pub(crate) certainty: Certainty,
    #[serde(default = "both")]
    pub(crate) scope: Scope,
    #[serde(default)]
    pub(crate) source: String,
}

fn both() -> Scope {
    Scope::Both
}

fn certain() -> Certainty {
    Certainty::Certain
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNet {
    #[serde(default)]
    pub(crate) cidr: Vec<String>,
    /// The published list these networks are a copy of: its name under `[classify.lists]`.
    pub(crate) list: Option<String>,
    /// Where the list is published.
    pub(crate) url: Option<String>,
    /// The date the copy in `cidr` was taken, `YYYY-MM-DD`.
    pub(crate) taken: Option<String>,
    /// The format the publisher serves.
    pub(crate) format: Option<ListFormat>,
    /// Which part of a file with several (see [`ListFormat`]).
    #[serde(default)]
    pub(crate) select: String,
    pub(crate) class: String,
    pub(crate) detail: String,
    pub(crate) scope: Scope,
    pub(crate) certainty: Certainty,
    #[serde(default)]
    pub(crate) user_agent: UaShape,
    pub(crate) window: Option<NetWindow>,
    #[serde(default)]
    pub(crate) machine_open: bool,
    #[serde(default)]
    pub(crate) source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAsn {
    pub(crate) asn: Vec<u32>,
    pub(crate) class: String,
    pub(crate) detail: String,
    pub(crate) scope: Scope,
    pub(crate) certainty: Certainty,
    #[serde(default)]
    pub(crate) user_agent: UaShape,
    pub(crate) window: Option<NetWindow>,
    #[serde(default)]
    pub(crate) source: String,
}

pub(crate) fn parse_class(s: &str) -> std::result::Result<HitClass, String> {
    match s {
        "human" => Ok(HitClass::Human),
        "proxy" => Ok(HitClass::Proxy),
        "scanner" => Ok(HitClass::Scanner),
        "bot" => Ok(HitClass::Bot),
        "internal" => Ok(HitClass::Internal),
        _ => Err(format!(
            "class {s:?}: a rule may give human, proxy, scanner, bot or internal"
        )),
    }
}
