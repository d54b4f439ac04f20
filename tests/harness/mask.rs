//! Masking: what legitimately differs between two fresh clusters of the same software.

use std::collections::BTreeSet;

/// Hides what differs between two fresh clusters of the same software with the same flags:
/// which member served a request (etcdctl balances round-robin), which member leads, raft
/// term/index, db size, server version, durations, and the client-side log's timestamp and
/// random client id. Member IDs and the cluster ID are NOT masked: they are derived from the
/// member names/peer URLs and the token, and were identical across fresh etcd clusters.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    /// The cluster's member IDs: a header's member_id / a status's leader is masked only when
    /// it is one of them (any other value still shows as a difference).
    pub member_ids: BTreeSet<u64>,
    /// Captured lease IDs (`NAME>VAR` lines) by variable: shown as `<VAR>`, in hex and decimal.
    pub vars: Vec<(String, String)>,
}

impl Masker {
    pub fn new(member_ids: BTreeSet<u64>) -> Self {
        Masker { member_ids, vars: Vec::new() }
    }

    /// Also masks the lease ID `hex` (captured as `var`).
    pub fn with_var(mut self, var: &str, hex: &str) -> Self {
        self.vars.push((var.to_string(), hex.to_string()));
        self
    }

    pub fn mask(&self, text: &str) -> String {
        let mut lines = Vec::new();
        let mut table_header: Option<Vec<String>> = None;
        for line in text.lines() {
            if is_table_border(line) {
                lines.push("+--+".to_string());
                continue;
            }
            if line.starts_with('|') && line.ends_with('|') {
                let cells: Vec<String> = line[1..line.len() - 1]
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect();
                let cells = match &table_header {
                    None => {
                        table_header = Some(cells.clone());
                        cells
                    }
                    Some(h) => self.mask_status_cells(h, cells),
                };
                lines.push(format!("| {} |", cells.join(" | ")));
                continue;
            }
            table_header = None;
            lines.push(self.mask_line(line));
        }
        let mut s = lines.join("\n");
        if text.ends_with('\n') {
            s.push('\n');
        }
        s
    }

    fn mask_status_cells(&self, header: &[String], mut cells: Vec<String>) -> Vec<String> {
        for (i, h) in header.iter().enumerate() {
            let m = match h.as_str() {
                "VERSION" => "<version>",
                "DB SIZE" => "<db-size>",
                "IS LEADER" => "<is-leader>",
                "RAFT TERM" => "<raft-term>",
                "RAFT INDEX" => "<raft-index>",
                "RAFT APPLIED INDEX" => "<raft-applied-index>",
                _ => continue,
            };
            if let Some(c) = cells.get_mut(i) {
                *c = m.to_string();
            }
        }
        cells
    }

    fn mask_line(&self, line: &str) -> String {
        let mut l = line.to_string();
        // Lease IDs differ between clusters: captured ones by name, in hex and as JSON decimals.
        for (var, hex) in &self.vars {
            l = l.replace(hex.as_str(), &format!("<{var}>"));
            if let Ok(n) = u64::from_str_radix(hex, 16) {
                for key in ["\"lease\":", "\"id\":", "\"ID\":"] {
                    l = l.replace(&format!("{key}{n}"), &format!("{key}<{var}>"));
                }
            }
        }
        // The lease of an `etcdctl lock`/`elect` session shows only in its key: NAME/<lease hex>.
        if let Some((name, hex)) = l.rsplit_once('/') {
            if !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && (1..=16).contains(&hex.len())
                && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                l = format!("{name}/<lease>");
            }
        }
        // A lease's remaining TTL counts down.
        if let Some(p) = l.find("remaining(") {
            let start = p + "remaining(".len();
            if let Some(end) = l[start..].find(')').map(|e| start + e) {
                l.replace_range(start..end, "<ttl>");
            }
        }
        l = replace_number(&l, "\"ttl\":", |_| Some("<ttl>".into()));
        // etcd lists a lease's keys in Go map order: compare them sorted.
        if let Some(p) = l.find("attached keys([") {
            let start = p + "attached keys([".len();
            if let Some(end) = l[start..].find("])").map(|e| start + e) {
                let mut keys: Vec<&str> = l[start..end].split(' ').collect();
                keys.sort_unstable();
                let sorted = keys.join(" ");
                l.replace_range(start..end, &sorted);
            }
        }
        // `endpoint status` (simple): ENDPOINT, ID, VERSION, DB SIZE, IS LEADER, IS LEARNER,
        // RAFT TERM, RAFT INDEX, RAFT APPLIED INDEX, ERRORS
        let f: Vec<&str> = l.split(", ").collect();
        if f.len() >= 9
            && f[0].contains("127.0.0.1:")
            && f[1].len() == 16
            && f[1].chars().all(|c| c.is_ascii_hexdigit())
            && matches!(f[4], "true" | "false")
        {
            let mut g: Vec<String> = f.iter().map(|s| s.to_string()).collect();
            g[2] = "<version>".into();
            g[3] = "<db-size>".into();
            g[4] = "<is-leader>".into();
            g[6] = "<raft-term>".into();
            g[7] = "<raft-index>".into();
            g[8] = "<raft-applied-index>".into();
            l = g.join(", ");
        }
        // JSON (etcdctl -w json is compact: "key":value)
        l = replace_number(&l, "\"raft_term\":", |_| Some("<raft-term>".into()));
        l = replace_number(&l, "\"raftTerm\":", |_| Some("<raft-term>".into()));
        l = replace_number(&l, "\"raftIndex\":", |_| Some("<raft-index>".into()));
        l = replace_number(&l, "\"raftAppliedIndex\":", |_| {
            Some("<raft-applied-index>".into())
        });
        l = replace_number(&l, "\"dbSize\":", |_| Some("<db-size>".into()));
        l = replace_number(&l, "\"dbSizeInUse\":", |_| Some("<db-size-in-use>".into()));
        l = replace_number(&l, "\"member_id\":", |n| self.member(n));
        l = replace_number(&l, "\"leader\":", |n| {
            self.member(n).map(|_| "<leader>".into())
        });
        l = replace_string(&l, "\"version\":", "<version>");
        // -w fields: "Key" : value
        l = replace_number(&l, "\"RaftTerm\" : ", |_| Some("<raft-term>".into()));
        l = replace_number(&l, "\"RaftIndex\" : ", |_| Some("<raft-index>".into()));
        l = replace_number(&l, "\"RaftAppliedIndex\" : ", |_| {
            Some("<raft-applied-index>".into())
        });
        l = replace_number(&l, "\"DBSize\" : ", |_| Some("<db-size>".into()));
        l = replace_number(&l, "\"DBSizeInUse\" : ", |_| {
            Some("<db-size-in-use>".into())
        });
        l = replace_number(&l, "\"MemberID\" : ", |n| self.member(n));
        l = replace_number(&l, "\"Leader\" : ", |n| {
            self.member(n).map(|_| "<leader>".into())
        });
        // endpoint health: "... successfully committed proposal: took = 4.73068ms"
        if let Some(p) = l.find("took = ") {
            let start = p + "took = ".len();
            let end = l[start..].find([',', ' ']).map_or(l.len(), |e| start + e);
            l.replace_range(start..end, "<duration>");
        }
        // clientv3's zap warnings on stderr: {"level":"warn","ts":"...",...,"target":"endpoint://client-<uuid>/...",...}
        l = replace_string(&l, "\"ts\":", "<ts>");
        if let Some(p) = l.find("endpoint://client-") {
            let start = p + "endpoint://client-".len();
            let end = l[start..].find('/').map_or(l.len(), |e| start + e);
            l.replace_range(start..end, "<uuid>");
        }
        l
    }

    fn member(&self, n: u64) -> Option<String> {
        self.member_ids
            .contains(&n)
            .then(|| "<member-id>".to_string())
    }
}

fn is_table_border(line: &str) -> bool {
    line.len() > 1 && line.starts_with('+') && line.chars().all(|c| c == '+' || c == '-')
}

/// Replaces the unsigned integer after each occurrence of `key` by `f(n)` (if Some).
fn replace_number(line: &str, key: &str, f: impl Fn(u64) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(p) = rest.find(key) {
        let start = p + key.len();
        out.push_str(&rest[..start]);
        let digits = rest[start..].bytes().take_while(u8::is_ascii_digit).count();
        let num = &rest[start..start + digits];
        match num.parse::<u64>().ok().and_then(&f) {
            Some(r) => out.push_str(&r),
            None => out.push_str(num),
        }
        rest = &rest[start + digits..];
    }
    out.push_str(rest);
    out
}

/// Replaces the JSON string value after each occurrence of `key` by `"repl"` (number values stay).
fn replace_string(line: &str, key: &str, repl: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(p) = rest.find(key) {
        let start = p + key.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if let Some(body) = rest.strip_prefix('"') {
            if let Some(end) = body.find('"') {
                out.push('"');
                out.push_str(repl);
                out.push('"');
                rest = &body[end + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}
