//! A small writer of MaxMind DB (MMDB v2.0) files, following the public format specification:
//! an IPv6 search tree with 24-bit records (IPv4 networks under `::/96`, as MaxMind's own
//! databases do), a data section of maps, UTF-8 strings and unsigned integers, and the metadata.
//!
//! It exists so that tests and the demo can build their own GeoIP databases: nothing is ever
//! downloaded. It is not a general-purpose writer (no arrays of data, no record sizes but 24).
//!
//! Key types: [`MmdbWriter`], [`Value`].

use std::net::IpAddr;

use ipnet::IpNet;

/// A value in the data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A map of string keys.
    Map(Vec<(String, Value)>),
    /// A UTF-8 string.
    Str(String),
    /// An unsigned 32-bit integer.
    U32(u32),
    /// An unsigned 16-bit integer.
    U16(u16),
}

impl Value {
    /// A map from `(key, value)` pairs.
    pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// A string.
    pub fn str(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

/// Collects networks and their records, then writes the file.
#[derive(Debug, Clone)]
pub struct MmdbWriter {
    database_type: String,
    entries: Vec<(IpNet, Value)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Empty,
    Node(usize),
    Data(usize),
}

impl MmdbWriter {
    /// A writer for a database of this type ("GeoLite2-City", "GeoLite2-ASN", ...).
    pub fn new(database_type: &str) -> Self {
        MmdbWriter {
            database_type: database_type.to_string(),
            entries: Vec::new(),
        }
    }

    /// Adds a network. Where networks nest, the longer prefix wins whatever the order.
    pub fn insert(&mut self, net: IpNet, value: Value) -> &mut Self {
        self.entries.push((net.trunc(), value));
        self
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Broader networks first, so a narrower one splits the leaf it falls in.
        let mut entries: Vec<&(IpNet, Value)> = self.entries.iter().collect();
        entries.sort_by_key(|(n, _)| tree_prefix(n).1);

        let mut data = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        for (_, v) in &entries {
            offsets.push(data.len());
            encode(v, &mut data);
        }

        let mut nodes: Vec<[Child; 2]> = vec![[Child::Empty; 2]];
        for (i, (net, _)) in entries.iter().enumerate() {
            let (bits, len) = tree_prefix(net);
            let mut node = 0usize;
            for depth in 0..len {
                let bit = ((bits >> (127 - depth)) & 1) as usize;
                if depth + 1 == len {
                    // The leaf: replace whatever record was here, including a whole subtree's
                    // worth of broader data (longer prefixes are inserted later).
                    nodes[node][bit] = Child::Data(offsets[i]);
                    break;
                }
                node = match nodes[node][bit] {
                    Child::Node(n) => n,
                    inherited => {
                        // Split an empty or data record: both halves keep what it held.
                        nodes.push([inherited; 2]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Child::Node(n);
                        n
                    }
                };
            }
        }

        let node_count = nodes.len();
        let record = |c: Child| -> u32 {
            let v = match c {
                Child::Empty => node_count,
                Child::Node(n) => n,
                Child::Data(off) => node_count + 16 + off,
            };
            u32::try_from(v).expect("a test database stays far below 2^24 records")
        };
        let mut out = Vec::with_capacity(node_count * 6 + 16 + data.len() + 256);
        for [l, r] in &nodes {
            out.extend_from_slice(&record(*l).to_be_bytes()[1..]);
            out.extend_from_slice(&record(*r).to_be_bytes()[1..]);
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let mut meta = Vec::new();
        encode_map_header(9, &mut meta); // the nine pairs below
        encode_str("binary_format_major_version", &mut meta);
        encode_uint(5, 2, &mut meta);
        encode_str("binary_format_minor_version", &mut meta);
        encode_uint(5, 0, &mut meta);
        encode_str("build_epoch", &mut meta);
        encode_u64(1_795_000_000, &mut meta);
        encode_str("database_type", &mut meta);
        encode_str(&self.database_type, &mut meta);
        encode_str("ip_version", &mut meta);
        encode_uint(5, 6, &mut meta);
        encode_str("node_count", &mut meta);
        encode_uint(6, node_count as u64, &mut meta);
        encode_str("record_size", &mut meta);
        encode_uint(5, 24, &mut meta);
        encode_str("description", &mut meta);
        encode_map_header(1, &mut meta);
        encode_str("en", &mut meta);
        encode_str("written by pxtrack for tests and the demo", &mut meta);
        encode_str("languages", &mut meta);
        control(11, 1, &mut meta); // an array of one string
        encode_str("en", &mut meta);
        out.extend_from_slice(&meta);
        out
    }
}

/// A network as (128-bit address, prefix length) in the IPv6 tree; IPv4 sits under `::/96`.
fn tree_prefix(net: &IpNet) -> (u128, usize) {
    match net.addr() {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 96 + usize::from(net.prefix_len())),
        IpAddr::V6(a) => (u128::from(a), usize::from(net.prefix_len())),
    }
}

fn control(type_id: u8, size: usize, out: &mut Vec<u8>) {
    let (t, ext) = if type_id > 7 {
        (0u8, Some(type_id - 7))
    } else {
        (type_id, None)
    };
    let (low, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, vec![]),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65_820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    out.push((t << 5) | low);
    if let Some(e) = ext {
        out.push(e);
    }
    out.extend_from_slice(&extra);
}

fn encode_str(s: &str, out: &mut Vec<u8>) {
    control(2, s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

fn encode_uint(type_id: u8, v: u64, out: &mut Vec<u8>) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    control(type_id, 8 - skip, out);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode_u64(v: u64, out: &mut Vec<u8>) {
    encode_uint(9, v, out);
}

fn encode_map_header(pairs: usize, out: &mut Vec<u8>) {
    control(7, pairs, out);
}

fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Map(pairs) => {
            encode_map_header(pairs.len(), out);
            for (k, v) in pairs {
                encode_str(k, out);
                encode(v, out);
            }
        }
        Value::Str(s) => encode_str(s, out),
        Value::U32(n) => encode_uint(6, u64::from(*n), out),
        Value::U16(n) => encode_uint(5, u64::from(*n), out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Rec {
        name: String,
    }

    #[test]
    fn reader_accepts_and_finds_longest_prefixes() {
        let mut w = MmdbWriter::new("Test");
        w.insert(
            "192.0.2.0/24".parse().unwrap(),
            Value::map([("name", Value::str("wide"))]),
        );
        w.insert(
            "192.0.2.128/25".parse().unwrap(),
            Value::map([("name", Value::str("narrow"))]),
        );
        w.insert(
            "2001:db8::/32".parse().unwrap(),
            Value::map([("name", Value::str("v6"))]),
        );
        let bytes = w.to_bytes();
        let r = maxminddb::Reader::from_source(bytes).unwrap();
        r.verify().unwrap();
        let get = |ip: &str| -> Option<String> {
            r.lookup(ip.parse().unwrap())
                .unwrap()
                .decode::<Rec>()
                .unwrap()
                .map(|x| x.name)
        };
        assert_eq!(get("192.0.2.1").as_deref(), Some("wide"));
        assert_eq!(get("192.0.2.200").as_deref(), Some("narrow"));
        assert_eq!(get("2001:db8::7").as_deref(), Some("v6"));
        assert_eq!(get("198.51.100.1"), None);
        assert_eq!(r.metadata().database_type, "Test");
    }

    #[test]
    fn long_strings_use_extended_sizes() {
        let long = "x".repeat(70_000);
        let mut w = MmdbWriter::new("Test");
        w.insert(
            "10.0.0.0/8".parse().unwrap(),
            Value::map([("name", Value::Str(long.clone()))]),
        );
        let r = maxminddb::Reader::from_source(w.to_bytes()).unwrap();
        let rec: Rec = r
            .lookup("10.1.2.3".parse().unwrap())
            .unwrap()
            .decode()
            .unwrap()
            .unwrap();
        assert_eq!(rec.name.len(), long.len());
    }
}
