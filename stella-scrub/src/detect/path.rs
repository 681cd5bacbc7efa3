//! Absolute file-system paths outside the configured repository root.
//!
//! A path is recognised by a well-known absolute root at a token boundary (`/home/`, `/Users/`,
//! `/etc/`, `/var/`, `/tmp/`, …, `C:\`, `\\server\share`, `file:///`), so HTTP routes such as
//! `/api/v1/users` are never paths. After normalising `.` and `..`, a path whose components
//! start with the components of a configured repository root is kept.

use super::Scan;
use crate::kind::Kind;

/// The default roots that mark the start of an absolute path.
pub(crate) const DEFAULT_PATH_ROOTS: &[&str] = &[
    "/home/",
    "/Users/",
    "/root/",
    "/etc/",
    "/var/",
    "/tmp/",
    "/opt/",
    "/srv/",
    "/mnt/",
    "/usr/",
    "/private/",
    "/Volumes/",
    "/media/",
    "/proc/",
    "/run/",
    "/snap/",
    "/nix/",
    "/workspace/",
    "/builds/",
    "/Library/",
    "/System/",
    "/Applications/",
    "/boot/",
    "/lib/",
    "/bin/",
    "/sbin/",
    "/dev/",
];

/// Normalised repository roots.
#[derive(Debug, Clone, Default)]
pub(crate) struct RepoRoots {
    roots: Vec<Root>,
    firsts: Vec<String>,
}

#[derive(Debug, Clone)]
struct Root {
    windows: bool,
    comps: Vec<String>,
}

impl RepoRoots {
    pub(crate) fn add(&mut self, root: &str) -> bool {
        let windows = is_windows_path(root);
        let Some(comps) = normalise(root, windows) else {
            return false;
        };
        if !windows && let Some(c) = comps.first() {
            let f = format!("/{c}/");
            if !self.firsts.contains(&f) {
                self.firsts.push(f);
            }
        }
        self.roots.push(Root { windows, comps });
        true
    }

    /// `/<first component>/` of each Unix root (`/work/main` gives `/work/`), so paths next to
    /// the repository are found even when that component is not a well-known root.
    pub(crate) fn first_components(&self) -> &[String] {
        &self.firsts
    }

    fn contains(&self, path: &str) -> bool {
        let windows = is_windows_path(path);
        let Some(comps) = normalise(path, windows) else {
            return false;
        };
        self.roots.iter().filter(|r| r.windows == windows).any(|r| {
            r.comps.len() <= comps.len()
                && r.comps.iter().zip(&comps).all(|(a, b)| {
                    if windows {
                        a.eq_ignore_ascii_case(b)
                    } else {
                        a == b
                    }
                })
        })
    }
}

fn is_windows_path(p: &str) -> bool {
    let b = p.as_bytes();
    (b.len() >= 2 && b.first().is_some_and(u8::is_ascii_alphabetic) && b.get(1) == Some(&b':'))
        || p.starts_with("\\\\")
}

/// Components after resolving `.`, `..` and repeated separators; `None` for a relative path.
fn normalise(p: &str, windows: bool) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let rest = if windows {
        if p.starts_with("\\\\") {
            out.push(String::from("\\\\"));
            p.get(2..)?
        } else {
            out.push(p.get(..2)?.to_ascii_uppercase());
            p.get(2..)?
        }
    } else {
        if !p.starts_with('/') {
            return None;
        }
        p
    };
    let seps: &[char] = if windows { &['\\', '/'] } else { &['/'] };
    for c in rest.split(seps) {
        match c {
            "" | "." => {}
            ".." => {
                if out.len() > usize::from(windows) {
                    out.pop();
                }
            }
            c => out.push(c.to_owned()),
        }
    }
    Some(out)
}

#[inline]
fn path_char(c: u8, windows: bool) -> bool {
    let stop = c.is_ascii_whitespace()
        || matches!(
            c,
            b'"' | b'\''
                | b'`'
                | b'<'
                | b'>'
                | b'|'
                | b','
                | b';'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'*'
                | b'?'
                | b'#'
                | b':'
                | 0
        )
        || (!windows && c == b'\\');
    !stop
}

/// A byte after which a path may start: start of text, whitespace, quotes, `=`, `:`, `,`, `;`
/// and opening brackets. Not `]` (so a redaction marker in front never changes the decision).
fn clear_boundary(c: u8) -> bool {
    c == 0
        || c.is_ascii_whitespace()
        || matches!(
            c,
            b'"' | b'\''
                | b'`'
                | b'='
                | b':'
                | b','
                | b';'
                | b'('
                | b'['
                | b'{'
                | b'<'
                | b'>'
                | b'|'
        )
}

/// End of a path starting at `s`; spaces are allowed inside when the next word goes on with a
/// separator (`/Users/Jane Doe/notes.txt`).
fn path_end(scan: &Scan<'_, '_>, s: usize, windows: bool) -> usize {
    let sep = |c: u8| c == b'/' || (windows && c == b'\\');
    let mut p = s;
    if windows && scan.at(s + 1) == b':' {
        p += 2; // the drive
    }
    loop {
        while p < scan.b.len() && path_char(scan.at(p), windows) && p - s < 4096 {
            p += 1;
        }
        if scan.at(p) == b' ' && !sep(scan.at(p + 1)) {
            let mut q = p + 1;
            while q < scan.b.len() && path_char(scan.at(q), windows) && q - p < 256 {
                if sep(scan.at(q)) {
                    break;
                }
                q += 1;
            }
            if q > p + 1 && sep(scan.at(q)) && path_char(scan.at(q + 1), windows) {
                p = q;
                continue;
            }
        }
        break;
    }
    while p > s && matches!(scan.before(p), b'.' | b'\\') {
        p -= 1;
    }
    p
}

fn redact_unless_under_root(scan: &mut Scan<'_, '_>, s: usize, e: usize, windows: bool) {
    let Some(path) = scan.text.get(s..e) else {
        return;
    };
    let owned;
    let path = if windows && path.contains("\\\\") && !path.starts_with("\\\\") {
        owned = path.replace("\\\\", "\\");
        owned.as_str()
    } else {
        path
    };
    if !scan.settings.roots.contains(path) {
        scan.push_kind(s, e, Kind::Path);
    }
}

/// At a `/`: a path when the next component is a well-known root (or the first component of a
/// repository root) and the slash starts a token.
pub(super) fn at_slash(scan: &mut Scan<'_, '_>, s: usize) {
    let first = scan.at(s + 1);
    if !first.is_ascii_alphabetic() || !scan.settings.may_start_root(first) {
        return;
    }
    if !clear_boundary(scan.before(s)) {
        return;
    }
    let rest = scan.b.get(s..).unwrap_or(&[]);
    let settings = scan.settings;
    let known = settings
        .path_roots
        .iter()
        .any(|r| r.as_bytes().get(1) == Some(&first) && rest.starts_with(r.as_bytes()))
        || settings
            .roots
            .first_components()
            .iter()
            .any(|r| r.as_bytes().get(1) == Some(&first) && rest.starts_with(r.as_bytes()));
    if known {
        at_root(scan, s);
    }
}

fn at_root(scan: &mut Scan<'_, '_>, s: usize) {
    let c = scan.before(s);
    let mut start = s;
    let mut windows = false;
    if c == b':'
        && s >= 2
        && scan.at(s - 2).is_ascii_alphabetic()
        && scan.before(s - 2) != b':'
        && !scan.before(s - 2).is_ascii_alphanumeric()
        && scan.before(s - 2) != b'\\'
    {
        start = s - 2; // C:/Users/…
        windows = true;
    }
    let end = path_end(scan, start, windows);
    redact_unless_under_root(scan, start, end, windows);
}

pub(super) fn at_file_url(scan: &mut Scan<'_, '_>, s: usize, e: usize) {
    let mut p = e;
    while scan.at(p) == b'/' && p - e < 3 {
        p += 1;
    }
    let start = p.saturating_sub(1);
    if scan.at(start) != b'/' || s + 5 > start {
        return;
    }
    let end = path_end(scan, start, false);
    if end > start + 1 {
        redact_unless_under_root(scan, start, end, false);
    }
}

/// At a backslash: `C:\…` or `\\server\share\…`. Returns where the byte-class pass resumes.
pub(super) fn at_backslash(scan: &mut Scan<'_, '_>, i: usize) -> usize {
    // A drive letter starts a word: not after `:`, `\`, or anything a host name or an email
    // domain could go on with (`xG-r:\` is not a path; redacting `r:\…` would complete the
    // domain in front of it on a second pass).
    let lead = scan.before_redacted(i.saturating_sub(2));
    if scan.before(i) == b':'
        && i >= 2
        && scan.at(i - 2).is_ascii_alphabetic()
        && !lead.is_ascii_alphanumeric()
        && !matches!(lead, b':' | b'\\' | b'-' | b'.' | b'_')
        && lead < 0x80
    {
        let start = i - 2;
        let end = path_end(scan, start, true);
        if end > i + 1 {
            redact_unless_under_root(scan, start, end, true);
        }
        return end.max(i + 1);
    }
    // UNC: \\host\share, only at a clear boundary
    if scan.at(i + 1) == b'\\' && clear_boundary(scan.before(i)) {
        let h = i + 2;
        let mut p = h;
        while scan.at(p).is_ascii_alphanumeric() || matches!(scan.at(p), b'.' | b'-' | b'_') {
            p += 1;
        }
        if p > h && scan.at(p) == b'\\' && scan.at(p + 1).is_ascii_alphanumeric() {
            let end = path_end(scan, i, true);
            redact_unless_under_root(scan, i, end, true);
            return end.max(i + 1);
        }
    }
    i + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_component_wise() {
        let mut r = RepoRoots::default();
        assert!(r.add("/work/main"));
        assert!(r.add("C:\\src\\repo"));
        assert!(r.contains("/work/main/src/lib.rs"));
        assert!(r.contains("/work/main"));
        assert!(!r.contains("/work/mainframe/x"));
        assert!(!r.contains("/work/main/../other/x"));
        assert!(r.contains("/work/other/../main/x"));
        assert!(r.contains("c:\\SRC\\repo\\a.txt"));
        assert!(!r.contains("C:\\src\\repo2\\a.txt"));
        assert!(!r.add("relative/path"));
    }

    /// The byte-class pass calls `at_slash` only where the byte before the `/` is no ASCII
    /// letter or digit: after one, `at_slash` never finds anything.
    #[test]
    fn slash_after_a_word_byte_finds_nothing() {
        let settings = crate::detect::Settings::new(
            crate::PrivateIpPolicy::Keep,
            RepoRoots::default(),
            crate::detect::default_path_roots(),
        );
        let roots = crate::detect::default_path_roots();
        // What `at_slash` finds at byte `at` of `text`.
        let found = |text: &str, at: usize| {
            let mut hits = Vec::new();
            let mut scan = Scan {
                text,
                b: text.as_bytes(),
                hits: &mut hits,
                settings: &settings,
                deferred_phones: Vec::new(),
                deferred_emails: Vec::new(),
            };
            at_slash(&mut scan, at);
            hits.len()
        };
        for c in (0u8..128).filter(u8::is_ascii_alphanumeric) {
            for root in &roots {
                for lead in ["", "x", " ", "\"", "a="] {
                    let text = format!("{lead}{}{root}x/y.txt", char::from(c));
                    assert_eq!(found(&text, lead.len() + 1), 0, "{text:?}");
                }
            }
        }
        // the same roots after a boundary are found (the test above is not vacuous)
        let text = format!("cat {}x/y.txt", roots[0]);
        assert!(found(&text, 4) > 0, "{text:?}");
    }
}
