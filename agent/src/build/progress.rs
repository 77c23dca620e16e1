//! Reads BuildKit's plain progress output (`buildctl --progress=plain`, `docker build
//! --progress=plain`) to say, after a failed build, which step failed, what it printed and with
//! which exit code. The lines themselves are forwarded to the user unchanged; this only watches.

use std::collections::{BTreeMap, VecDeque};

/// How many output lines of the failing step the summary repeats (the full log is above it).
const STEP_OUTPUT_LINES: usize = 20;

/// What a failed build looked like, as far as its progress output tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFailure {
    /// The failing step's name as BuildKit prints it, e.g. `[build 2/3] RUN make`.
    pub step: Option<String>,
    /// BuildKit's error for that step (or the final `error:` line).
    pub error: Option<String>,
    /// The process exit code, when the step was a process (`RUN`).
    pub exit_code: Option<i32>,
    /// The last lines the failing step printed, without BuildKit's `#N 0.123` prefix.
    pub output: Vec<String>,
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.step {
            Some(step) => write!(f, "step `{step}` failed")?,
            None => write!(f, "the build failed")?,
        }
        if let Some(code) = self.exit_code {
            write!(f, " with exit code {code}")?;
        }
        if let Some(error) = &self.error {
            write!(f, ": {error}")?;
        }
        if !self.output.is_empty() {
            write!(f, "\nlast output of the step:")?;
            for line in &self.output {
                write!(f, "\n  | {line}")?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Vertex {
    name: String,
    output: VecDeque<String>,
}

/// Watches progress lines one at a time.
#[derive(Debug, Default)]
pub struct ProgressWatcher {
    vertices: BTreeMap<u32, Vertex>,
    /// Every vertex that printed `ERROR:`, in order. Not all of them fail the build: a first
    /// build's `importing cache manifest` step errors (no cache yet) and the build goes on.
    errors: Vec<(u32, String)>,
    final_error: Option<String>,
    /// Where the lines after an error go: registries answer with several errors, which BuildKit
    /// prints on the lines after `ERROR: … errors:` (until an empty line or the next vertex).
    continuing: Option<Continuation>,
}

#[derive(Debug, Clone, Copy)]
enum Continuation {
    /// `errors[i]`.
    Step(usize),
    /// `final_error`.
    Final,
}

/// Most continuation lines kept per error (a registry can list one error per layer).
const CONTINUATION_LINES: usize = 10;

/// The first line of a possibly multi-line error.
fn first_line(error: &str) -> &str {
    error.lines().next().unwrap_or_default()
}

/// `#12 rest` → `(12, "rest")`.
fn vertex_line(line: &str) -> Option<(u32, &str)> {
    let rest = line.strip_prefix('#')?;
    let (id, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((id.parse().ok()?, rest))
}

/// `0.103 text` (a timestamped output line of a running step) → `text`.
fn step_output(rest: &str) -> Option<&str> {
    let (stamp, text) = rest.split_once(' ').unwrap_or((rest, ""));
    let (secs, frac) = stamp.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(secs) && digits(frac)).then_some(text)
}

/// `... exit code: 3` → 3.
fn exit_code(error: &str) -> Option<i32> {
    let (_, code) = error.rsplit_once("exit code: ")?;
    code.trim()
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}

impl ProgressWatcher {
    /// Feeds one line of the builder's output (stdout or stderr).
    pub fn observe(&mut self, line: &str) {
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(error) = line.strip_prefix("error: ") {
            // buildctl's last word: `error: failed to solve: …`.
            self.final_error = Some(error.to_owned());
            self.continuing = Some(Continuation::Final);
            return;
        }
        if let Some(error) = line.strip_prefix("ERROR: ") {
            // docker build's last word (20.10): `ERROR: failed to solve: …`.
            self.final_error = Some(error.to_owned());
            self.continuing = Some(Continuation::Final);
            return;
        }
        let Some((id, rest)) = vertex_line(line) else {
            self.continue_error(line);
            return;
        };
        self.continuing = None;
        let vertex = self.vertices.entry(id).or_default();
        if vertex.name.is_empty() {
            // The first line of a vertex is its name.
            vertex.name = rest.to_owned();
        } else if let Some(error) = rest.strip_prefix("ERROR: ") {
            self.errors.push((id, error.to_owned()));
            self.continuing = Some(Continuation::Step(self.errors.len() - 1));
        } else if let Some(text) = step_output(rest) {
            if vertex.output.len() == STEP_OUTPUT_LINES {
                vertex.output.pop_front();
            }
            vertex.output.push_back(text.to_owned());
        }
    }

    /// Appends a line that follows an error to it; an empty line or `------` ends the error.
    fn continue_error(&mut self, line: &str) {
        let Some(continuing) = self.continuing else {
            return;
        };
        if line.trim().is_empty() || line.starts_with("------") {
            self.continuing = None;
            return;
        }
        let error = match continuing {
            Continuation::Step(index) => self.errors.get_mut(index).map(|(_, error)| error),
            Continuation::Final => self.final_error.as_mut(),
        };
        if let Some(error) = error
            && error.lines().count() <= CONTINUATION_LINES
        {
            error.push('\n');
            error.push_str(line.trim_end());
        }
    }

    /// What failed, from everything observed so far.
    pub fn failure(&self) -> BuildFailure {
        // The step whose error the build ended with; else the last step that errored.
        let failed = self
            .errors
            .iter()
            .rev()
            .find(|(_, error)| {
                self.final_error
                    .as_deref()
                    .is_some_and(|last| first_line(last).contains(first_line(error)))
            })
            .or_else(|| self.errors.last());
        let vertex = failed.and_then(|(id, _)| self.vertices.get(id));
        let error = failed
            .map(|(_, error)| error.clone())
            .or_else(|| self.final_error.clone());
        BuildFailure {
            step: vertex.map(|v| v.name.clone()),
            exit_code: error.as_deref().and_then(exit_code),
            error,
            output: vertex
                .map(|v| v.output.iter().cloned().collect())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verbatim from buildctl v0.32.2 with a failing `RUN` (stderr, `--progress=plain`); the
    /// first build of a cache shows the (harmless) import error first.
    const FAILED_RUN: &str = r#"#3 importing cache manifest from 127.0.0.1:35621/team/broken:buildcache
#3 ERROR: failed to configure registry cache importer: 127.0.0.1:35621/team/broken:buildcache: not found

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 148B done
#1 DONE 0.0s

#4 [1/2] COPY busybox /bin/busybox
#4 DONE 0.0s

#5 [2/2] RUN ["/bin/busybox","sh","-c","echo to-stderr-xyz >&2; exit 3"]
#5 0.103 to-stderr-xyz
#5 ERROR: process "/bin/busybox sh -c echo to-stderr-xyz >&2; exit 3" did not complete successfully: exit code: 3
------
 > [2/2] RUN ["/bin/busybox","sh","-c","echo to-stderr-xyz >&2; exit 3"]:
0.103 to-stderr-xyz
------
error: failed to solve: process "/bin/busybox sh -c echo to-stderr-xyz >&2; exit 3" did not complete successfully: exit code: 3
"#;

    #[test]
    fn a_failed_run_step_is_named_with_its_output_and_exit_code() {
        let mut watcher = ProgressWatcher::default();
        FAILED_RUN.lines().for_each(|line| watcher.observe(line));
        let failure = watcher.failure();
        assert_eq!(
            failure.step.as_deref(),
            Some(r#"[2/2] RUN ["/bin/busybox","sh","-c","echo to-stderr-xyz >&2; exit 3"]"#)
        );
        assert_eq!(failure.exit_code, Some(3));
        assert_eq!(failure.output, ["to-stderr-xyz"]);
        let text = failure.to_string();
        assert!(text.starts_with("step `[2/2] RUN"), "{text}");
        assert!(text.contains("with exit code 3: process"), "{text}");
        assert!(text.ends_with("\n  | to-stderr-xyz"), "{text}");
    }

    #[test]
    fn without_a_failed_step_the_final_error_is_kept() {
        let mut watcher = ProgressWatcher::default();
        watcher.observe("#1 [internal] load build definition from Dockerfile");
        watcher.observe("error: failed to solve: failed to read dockerfile: open Dockerfile: no such file or directory");
        let failure = watcher.failure();
        assert_eq!(failure.step, None);
        assert_eq!(failure.exit_code, None);
        assert_eq!(
            failure.to_string(),
            "the build failed: failed to solve: failed to read dockerfile: open Dockerfile: no such file or directory"
        );
    }

    #[test]
    fn only_the_last_lines_of_a_chatty_step_are_kept() {
        let mut watcher = ProgressWatcher::default();
        watcher.observe("#7 [2/2] RUN make");
        for i in 0..50 {
            watcher.observe(&format!("#7 {i}.5 line {i}"));
        }
        watcher.observe("#7 ERROR: process \"make\" did not complete successfully: exit code: 2");
        let failure = watcher.failure();
        assert_eq!(failure.output.len(), STEP_OUTPUT_LINES);
        assert_eq!(failure.output.last().map(String::as_str), Some("line 49"));
        assert_eq!(failure.exit_code, Some(2));
    }

    /// Verbatim (shortened) from buildctl v0.32.2 pushing to docker-registry 2.8: the registry's
    /// errors follow the `ERROR:` line, one per line.
    const FAILED_PUSH: &str = "#11 exporting to image
#11 pushing layers 0.1s done
#11 ERROR: failed to push 127.0.0.1:45301/team/app:v1: errors:
unknown: provided digest did not match uploaded content
unknown: blob unknown to registry - sha256:81ba6d90

#10 exporting cache to registry
#10 sending cache export 0.1s done
------
 > exporting to image:
------
error: failed to solve: failed to push 127.0.0.1:45301/team/app:v1: errors:
unknown: provided digest did not match uploaded content
unknown: blob unknown to registry - sha256:81ba6d90
";

    #[test]
    fn a_registry_s_errors_on_the_following_lines_belong_to_the_failed_push() {
        let mut watcher = ProgressWatcher::default();
        FAILED_PUSH.lines().for_each(|line| watcher.observe(line));
        let failure = watcher.failure();
        assert_eq!(failure.step.as_deref(), Some("exporting to image"));
        assert_eq!(
            failure.error.as_deref(),
            Some(
                "failed to push 127.0.0.1:45301/team/app:v1: errors:\nunknown: provided digest did not match uploaded content\nunknown: blob unknown to registry - sha256:81ba6d90"
            )
        );
    }

    #[test]
    fn non_progress_lines_are_ignored() {
        let mut watcher = ProgressWatcher::default();
        watcher.observe("The push refers to repository [r/app]");
        watcher.observe("#x not a vertex");
        watcher.observe("#3 [1/1] COPY a b");
        watcher.observe("#3 transferring context: 2B done");
        assert_eq!(watcher.failure(), BuildFailure::default());
    }
}
