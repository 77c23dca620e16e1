//! Decoding of core v1 `Event` and `events.k8s.io/v1` `Event`, every field.

use k8s_pb::api::core::v1 as core;
use k8s_pb::api::events::v1 as events;
use serde_json::Value;

use super::json::{Out, opt};
use super::meta::{micro_time, object_meta, time};
use crate::error::ApiError;

/// A core v1 Event (client-go's legacy recorder, kubectl's events).
pub fn core_event(event: core::Event) -> Result<Value, ApiError> {
    let core::Event {
        metadata,
        involved_object,
        reason,
        message,
        source,
        first_timestamp,
        last_timestamp,
        count,
        r#type,
        event_time,
        series,
        action,
        related,
        reporting_component,
        reporting_instance,
    } = event;
    // core/v1 EventSeries fields are `omitempty`.
    let series = opt(
        series,
        |core::EventSeries {
             count,
             last_observed_time,
         }| {
            Ok(Out::new()
                .num("count", count)
                .put("lastObservedTime", micro_time(last_observed_time))
                .done())
        },
    )?;
    Ok(Out::new()
        .put("metadata", object_meta(metadata)?)
        .keep(
            "involvedObject",
            object_reference(involved_object.unwrap_or_default()),
        )
        .str("reason", reason)
        .str("message", message)
        .put("source", opt(source, event_source)?)
        .put("firstTimestamp", time(first_timestamp))
        .put("lastTimestamp", time(last_timestamp))
        .num("count", count)
        .str("type", r#type)
        .put("eventTime", micro_time(event_time))
        .keep("series", series)
        .str("action", action)
        .put("related", related.map_or(Value::Null, object_reference))
        .str("reportingComponent", reporting_component)
        .str("reportingInstance", reporting_instance)
        .done())
}

/// An `events.k8s.io/v1` Event (kube-runtime's and client-go's new recorders).
pub fn events_event(event: events::Event) -> Result<Value, ApiError> {
    let events::Event {
        metadata,
        event_time,
        series,
        reporting_controller,
        reporting_instance,
        action,
        reason,
        regarding,
        related,
        note,
        r#type,
        deprecated_source,
        deprecated_first_timestamp,
        deprecated_last_timestamp,
        deprecated_count,
    } = event;
    // events.k8s.io/v1 EventSeries fields are required, so both are written.
    let series = opt(
        series,
        |events::EventSeries {
             count,
             last_observed_time,
         }| {
            Ok(
                serde_json::json!({"count": count.unwrap_or(0), "lastObservedTime": micro_time(last_observed_time)}),
            )
        },
    )?;
    Ok(Out::new()
        .put("metadata", object_meta(metadata)?)
        .put("eventTime", micro_time(event_time))
        .put("series", series)
        .str("reportingController", reporting_controller)
        .str("reportingInstance", reporting_instance)
        .str("action", action)
        .str("reason", reason)
        .put("regarding", regarding.map_or(Value::Null, object_reference))
        .put("related", related.map_or(Value::Null, object_reference))
        .str("note", note)
        .str("type", r#type)
        .put("deprecatedSource", opt(deprecated_source, event_source)?)
        .put("deprecatedFirstTimestamp", time(deprecated_first_timestamp))
        .put("deprecatedLastTimestamp", time(deprecated_last_timestamp))
        .num("deprecatedCount", deprecated_count)
        .done())
}

fn event_source(source: core::EventSource) -> Result<Value, ApiError> {
    let core::EventSource { component, host } = source;
    Ok(Out::new()
        .str("component", component)
        .str("host", host)
        .done())
}

/// An `ObjectReference` (`involvedObject`, `regarding`, `related`).
pub fn object_reference(reference: core::ObjectReference) -> Value {
    let core::ObjectReference {
        kind,
        namespace,
        name,
        uid,
        api_version,
        resource_version,
        field_path,
    } = reference;
    Out::new()
        .str("kind", kind)
        .str("namespace", namespace)
        .str("name", name)
        .str("uid", uid)
        .str("apiVersion", api_version)
        .str("resourceVersion", resource_version)
        .str("fieldPath", field_path)
        .done()
}
