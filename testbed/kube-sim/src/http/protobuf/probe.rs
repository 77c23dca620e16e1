//! Decoding of probes and lifecycle hooks, which share their handlers.

use k8s_pb::api::core::v1 as core;
use serde_json::Value;

use super::json::{Out, each, opt};
use super::meta::int_or_string;
use crate::error::ApiError;

/// A liveness, readiness or startup probe.
pub fn probe(probe: core::Probe) -> Result<Value, ApiError> {
    let core::Probe {
        handler,
        initial_delay_seconds,
        timeout_seconds,
        period_seconds,
        success_threshold,
        failure_threshold,
        termination_grace_period_seconds,
    } = probe;
    let core::ProbeHandler {
        exec,
        http_get,
        tcp_socket,
        grpc,
    } = handler.unwrap_or_default();
    let grpc = opt(grpc, |core::GrpcAction { port, service }| {
        Ok(Out::new()
            .ptr("port", Some(port.unwrap_or(0)))
            .ptr("service", service)
            .done())
    })?;
    Ok(Out::new()
        .put("exec", opt(exec, exec_action)?)
        .put("httpGet", opt(http_get, http_get_action)?)
        .put("tcpSocket", opt(tcp_socket, tcp_socket_action)?)
        .put("grpc", grpc)
        .num("initialDelaySeconds", initial_delay_seconds)
        .num("timeoutSeconds", timeout_seconds)
        .num("periodSeconds", period_seconds)
        .num("successThreshold", success_threshold)
        .num("failureThreshold", failure_threshold)
        .ptr(
            "terminationGracePeriodSeconds",
            termination_grace_period_seconds,
        )
        .done())
}

/// `postStart` and `preStop` hooks, and the stop signal.
pub fn lifecycle(lifecycle: core::Lifecycle) -> Result<Value, ApiError> {
    let core::Lifecycle {
        post_start,
        pre_stop,
        stop_signal,
    } = lifecycle;
    Ok(Out::new()
        .put("postStart", opt(post_start, lifecycle_handler)?)
        .put("preStop", opt(pre_stop, lifecycle_handler)?)
        .str("stopSignal", stop_signal)
        .done())
}

fn lifecycle_handler(handler: core::LifecycleHandler) -> Result<Value, ApiError> {
    let core::LifecycleHandler {
        exec,
        http_get,
        tcp_socket,
        sleep,
    } = handler;
    let sleep = opt(sleep, |core::SleepAction { seconds }| {
        Ok(Out::new().ptr("seconds", Some(seconds.unwrap_or(0))).done())
    })?;
    Ok(Out::new()
        .put("exec", opt(exec, exec_action)?)
        .put("httpGet", opt(http_get, http_get_action)?)
        .put("tcpSocket", opt(tcp_socket, tcp_socket_action)?)
        .put("sleep", sleep)
        .done())
}

fn exec_action(action: core::ExecAction) -> Result<Value, ApiError> {
    let core::ExecAction { command } = action;
    Ok(Out::new().strs("command", command).done())
}

fn http_get_action(action: core::HttpGetAction) -> Result<Value, ApiError> {
    let core::HttpGetAction {
        path,
        port,
        host,
        scheme,
        http_headers,
    } = action;
    let headers = each(http_headers, |core::HttpHeader { name, value }| {
        // Both are required fields without omitempty: an empty value stays.
        Ok(
            serde_json::json!({"name": name.unwrap_or_default(), "value": value.unwrap_or_default()}),
        )
    })?;
    Ok(Out::new()
        .str("path", path)
        .put("port", int_or_string(port))
        .str("host", host)
        .str("scheme", scheme)
        .put("httpHeaders", headers)
        .done())
}

fn tcp_socket_action(action: core::TcpSocketAction) -> Result<Value, ApiError> {
    let core::TcpSocketAction { port, host } = action;
    Ok(Out::new()
        .put("port", int_or_string(port))
        .str("host", host)
        .done())
}
