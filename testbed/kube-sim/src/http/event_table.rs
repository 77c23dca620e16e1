//! The Table rows of Events (`kubectl get events`), as kube-apiserver's `printEvent` makes
//! them for either Event API (one internal type): LAST SEEN, TYPE, REASON, OBJECT, MESSAGE,
//! and, for `-o wide`, SUBOBJECT, SOURCE, FIRST SEEN, COUNT, NAME.

use serde_json::{Value, json};

use super::render::human_age;

fn column(name: &str, priority: i64, format: &str, description: &str) -> Value {
    json!({"name": name, "type": "string", "format": format, "description": description, "priority": priority})
}

/// The column definitions, in the real server's order.
pub fn columns() -> Vec<Value> {
    vec![
        column(
            "Last Seen",
            0,
            "",
            "The time at which the most recent occurrence of this event was recorded.",
        ),
        column(
            "Type",
            0,
            "",
            "Type of this event (Normal, Warning), new types could be added in the future",
        ),
        column(
            "Reason",
            0,
            "",
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        ),
        column("Object", 0, "", "The object that this event is about."),
        column(
            "Subobject",
            1,
            "",
            "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.",
        ),
        column(
            "Source",
            1,
            "",
            "The component reporting this event. Should be a short machine understandable string.",
        ),
        column(
            "Message",
            0,
            "",
            "A human-readable description of the status of this operation.",
        ),
        column(
            "First Seen",
            1,
            "",
            "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        ),
        column(
            "Count",
            1,
            "",
            "The number of times this event has occurred.",
        ),
        column("Name", 1, "name", "Name must be unique within a namespace."),
    ]
}

fn text<'a>(event: &'a Value, pointer: &str) -> &'a str {
    event.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// How long ago `pointer`'s time was; None when unset.
fn since(event: &Value, pointer: &str) -> Option<String> {
    Some(text(event, pointer))
        .filter(|t| !t.is_empty())
        .map(human_age)
}

/// The cells of one core-form Event (server-side printing is always "wide").
pub fn cells(core: &Value) -> Vec<Value> {
    let first = since(core, "/firstTimestamp")
        .or_else(|| since(core, "/eventTime"))
        .unwrap_or_else(|| "<unknown>".into());
    let mut last = since(core, "/lastTimestamp").unwrap_or_else(|| first.clone());
    let mut count = core.get("count").and_then(Value::as_i64).unwrap_or(0);
    if let Some(series) = core.get("series").filter(|s| !s.is_null()) {
        last = since(series, "/lastObservedTime").unwrap_or_else(|| "<unknown>".into());
        count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let kind = text(core, "/involvedObject/kind").to_lowercase();
    let name = text(core, "/involvedObject/name");
    let target = if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    };
    vec![
        json!(last),
        json!(text(core, "/type")),
        json!(text(core, "/reason")),
        json!(target),
        json!(text(core, "/involvedObject/fieldPath")),
        json!(source(core)),
        json!(text(core, "/message").trim()),
        json!(first),
        json!(count),
        json!(text(core, "/metadata/name")),
    ]
}

/// `component, host`, each falling back to the new API's reporting fields (kubectl's
/// `formatEventSource`).
pub fn source(core: &Value) -> String {
    let or = |a: &str, b: &str| {
        let v = text(core, a);
        if v.is_empty() { text(core, b) } else { v }.to_string()
    };
    let component = or("/source/component", "/reportingComponent");
    let host = or("/source/host", "/reportingInstance");
    match (component.is_empty(), host.is_empty()) {
        (true, _) => String::new(),
        (false, true) => component,
        (false, false) => format!("{component}, {host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_shows_its_count_and_the_reporter() {
        let event = json!({"metadata": {"name": "e"}, "type": "Warning", "reason": "PatInvalid",
            "message": "401 ", "involvedObject": {"kind": "Pod", "name": "p"},
            "eventTime": "2026-12-03T10:00:00.000000Z", "reportingComponent": "azp-operator",
            "reportingInstance": "", "series": {"count": 3, "lastObservedTime": "2026-12-03T10:00:05.000000Z"}});
        let cells = cells(&event);
        assert_eq!(cells[3], "pod/p");
        assert_eq!(cells[5], "azp-operator");
        assert_eq!(cells[6], "401");
        assert_eq!(cells[8], 3);
    }
}
