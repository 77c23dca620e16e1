//! The CEL environment kube-sim offers to `x-kubernetes-validations`: the CEL standard
//! library, the `strings` extension, and the Kubernetes URL and regex libraries. Any other
//! function makes the rule "unsupported in kube-sim", so nothing passes silently.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use cel::extractors::This;
use cel::objects::{Key, Map as CelMap};
use cel::{Context, Env, ExecutionError, ResolveResult, Value as CelValue};

/// Functions of the CEL standard library (as cel-rust implements it) and the strings
/// extension that rules may call.
const STANDARD_FUNCTIONS: &[&str] = &[
    "size",
    "matches",
    "startsWith",
    "endsWith",
    "contains",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "type",
    "dyn",
    "duration",
    "timestamp",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getFullYear",
    "getHours",
    "getMilliseconds",
    "getMinutes",
    "getMonth",
    "getSeconds",
    "charAt",
    "indexOf",
    "lastIndexOf",
    "join",
    "lowerAscii",
    "upperAscii",
    "trim",
    "replace",
    "split",
    "substring",
    "format",
    "strings.quote",
    "reverse",
    "has",
    "all",
    "exists",
    "exists_one",
    "map",
    "filter",
];

/// The Kubernetes CEL library functions implemented here.
const KUBERNETES_FUNCTIONS: &[&str] = &[
    "url",
    "isURL",
    "getScheme",
    "getHost",
    "getHostname",
    "getPort",
    "getEscapedPath",
    "getQuery",
    "find",
    "findAll",
];

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    if let Err(e) = env.add_extension(cel::extensions::strings) {
        tracing::error!(error = %e, "CEL strings extension could not be registered");
    }
    Arc::new(env)
});

/// The shared environment rules are compiled with.
pub fn env() -> Arc<Env> {
    Arc::clone(&ENV)
}

/// Whether a function name a compiled rule references can be evaluated here. Operators
/// (`_==_`, `!_`, `@in`, ...) are always supported.
pub fn is_supported_function(name: &str) -> bool {
    name.starts_with(['_', '!', '@', '-'])
        || STANDARD_FUNCTIONS.contains(&name)
        || KUBERNETES_FUNCTIONS.contains(&name)
}

/// A fresh evaluation context with the Kubernetes functions registered.
pub fn new_context() -> Result<Context<'static, 'static>, cel::DeclarationError> {
    let mut ctx = Context::with_env(env());
    ctx.add_function("url", url)?;
    ctx.add_function("isURL", is_url)?;
    ctx.add_function("getScheme", get_scheme)?;
    ctx.add_function("getHost", get_host)?;
    ctx.add_function("getHostname", get_hostname)?;
    ctx.add_function("getPort", get_port)?;
    ctx.add_function("getEscapedPath", get_escaped_path)?;
    ctx.add_function("getQuery", get_query)?;
    ctx.add_function("find", find)?;
    ctx.add_function("findAll", find_all)?;
    Ok(ctx)
}

/// A URL as Go's `url.ParseRequestURI` sees it: absolute, or an absolute path (which has
/// no scheme and no host).
struct RequestUri {
    parsed: url::Url,
    is_path_only: bool,
}

fn parse_request_uri(s: &str) -> Option<RequestUri> {
    if s.starts_with('/') {
        let base = url::Url::parse("http://path-only.invalid").ok()?;
        return base.join(s).ok().map(|parsed| RequestUri {
            parsed,
            is_path_only: true,
        });
    }
    url::Url::parse(s).ok().map(|parsed| RequestUri {
        parsed,
        is_path_only: false,
    })
}

fn require_url(function: &str, s: &str) -> Result<RequestUri, ExecutionError> {
    parse_request_uri(s)
        .ok_or_else(|| ExecutionError::function_error(function, format!("URL parse error: {s}")))
}

fn string_value(s: impl Into<String>) -> CelValue {
    CelValue::String(Arc::new(s.into()))
}

/// `url(string) -> URL`; the URL is carried as its string and re-parsed by the getters.
fn url(This(s): This<Arc<String>>) -> ResolveResult {
    require_url("url", &s)?;
    Ok(CelValue::String(s))
}

fn is_url(This(s): This<Arc<String>>) -> bool {
    parse_request_uri(&s).is_some()
}

fn get_scheme(This(s): This<Arc<String>>) -> ResolveResult {
    let u = require_url("getScheme", &s)?;
    Ok(string_value(if u.is_path_only {
        ""
    } else {
        u.parsed.scheme()
    }))
}

fn host_with_brackets(u: &RequestUri) -> String {
    if u.is_path_only {
        return String::new();
    }
    match u.parsed.host() {
        Some(url::Host::Ipv6(addr)) => format!("[{addr}]"),
        Some(host) => host.to_string(),
        None => String::new(),
    }
}

fn get_host(This(s): This<Arc<String>>) -> ResolveResult {
    let u = require_url("getHost", &s)?;
    let host = host_with_brackets(&u);
    Ok(string_value(match u.parsed.port() {
        Some(port) if !u.is_path_only => format!("{host}:{port}"),
        _ => host,
    }))
}

fn get_hostname(This(s): This<Arc<String>>) -> ResolveResult {
    let u = require_url("getHostname", &s)?;
    Ok(string_value(
        host_with_brackets(&u).trim_matches(['[', ']']),
    ))
}

fn get_port(This(s): This<Arc<String>>) -> ResolveResult {
    let u = require_url("getPort", &s)?;
    let port = match u.parsed.port() {
        Some(p) if !u.is_path_only => p.to_string(),
        _ => String::new(),
    };
    Ok(string_value(port))
}

fn get_escaped_path(This(s): This<Arc<String>>) -> ResolveResult {
    let u = require_url("getEscapedPath", &s)?;
    let path = u.parsed.path();
    // Go leaves the path empty for `https://host`, where the url crate says `/`.
    let has_explicit_path = u.is_path_only || s.splitn(4, '/').nth(3).is_some();
    Ok(string_value(if has_explicit_path { path } else { "" }))
}

fn get_query(This(s): This<Arc<String>>) -> ResolveResult {
    let u = require_url("getQuery", &s)?;
    let mut grouped: HashMap<Key, Vec<CelValue>> = HashMap::new();
    for (k, v) in u.parsed.query_pairs() {
        grouped
            .entry(Key::String(Arc::new(k.into_owned())))
            .or_default()
            .push(string_value(v.into_owned()));
    }
    let map = grouped
        .into_iter()
        .map(|(k, vs)| (k, CelValue::List(Arc::new(vs))))
        .collect();
    Ok(CelValue::Map(CelMap { map: Arc::new(map) }))
}

fn compile_regex(function: &str, pattern: &str) -> Result<regex::Regex, ExecutionError> {
    regex::Regex::new(pattern).map_err(|e| ExecutionError::function_error(function, e))
}

/// `string.find(regex) -> string`: the first match, or `""`.
fn find(This(s): This<Arc<String>>, pattern: Arc<String>) -> ResolveResult {
    let re = compile_regex("find", &pattern)?;
    Ok(string_value(re.find(&s).map(|m| m.as_str()).unwrap_or("")))
}

/// `string.findAll(regex) -> list(string)`.
fn find_all(This(s): This<Arc<String>>, pattern: Arc<String>) -> ResolveResult {
    let re = compile_regex("findAll", &pattern)?;
    let matches = re.find_iter(&s).map(|m| string_value(m.as_str())).collect();
    Ok(CelValue::List(Arc::new(matches)))
}
