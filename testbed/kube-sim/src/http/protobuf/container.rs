//! Decoding of `Container` and the types only containers use: env, ports, resources,
//! volume mounts and devices, resize policies.

use k8s_pb::api::core::v1 as core;
use serde_json::Value;

use super::json::{Out, each, opt};
use super::meta::{quantities, quantity};
use super::probe::{lifecycle, probe};
use super::security::security_context;
use crate::error::ApiError;

/// A container or an init container.
pub fn container(container: core::Container) -> Result<Value, ApiError> {
    let core::Container {
        name,
        image,
        command,
        args,
        working_dir,
        ports,
        env_from,
        env,
        resources,
        resize_policy,
        restart_policy,
        volume_mounts,
        volume_devices,
        liveness_probe,
        readiness_probe,
        startup_probe,
        lifecycle: hooks,
        termination_message_path,
        termination_message_policy,
        image_pull_policy,
        security_context: security,
        stdin,
        stdin_once,
        tty,
    } = container;
    Ok(Out::new()
        .str("name", name)
        .str("image", image)
        .strs("command", command)
        .strs("args", args)
        .str("workingDir", working_dir)
        .put("ports", each(ports, port)?)
        .put("envFrom", each(env_from, env_from_source)?)
        .put("env", each(env, env_var)?)
        .put("resources", opt(resources, resource_requirements)?)
        .put("resizePolicy", each(resize_policy, resize)?)
        .str("restartPolicy", restart_policy)
        .put("volumeMounts", each(volume_mounts, volume_mount)?)
        .put("volumeDevices", each(volume_devices, volume_device)?)
        .put("livenessProbe", opt(liveness_probe, probe)?)
        .put("readinessProbe", opt(readiness_probe, probe)?)
        .put("startupProbe", opt(startup_probe, probe)?)
        .put("lifecycle", opt(hooks, lifecycle)?)
        .str("terminationMessagePath", termination_message_path)
        .str("terminationMessagePolicy", termination_message_policy)
        .str("imagePullPolicy", image_pull_policy)
        .put("securityContext", opt(security, security_context)?)
        .flag("stdin", stdin)
        .flag("stdinOnce", stdin_once)
        .flag("tty", tty)
        .done())
}

fn port(port: core::ContainerPort) -> Result<Value, ApiError> {
    let core::ContainerPort {
        name,
        host_port,
        container_port,
        protocol,
        host_ip,
    } = port;
    Ok(Out::new()
        .str("name", name)
        .num("hostPort", host_port)
        .ptr("containerPort", Some(container_port.unwrap_or(0)))
        .str("protocol", protocol)
        .str("hostIP", host_ip)
        .done())
}

fn env_var(var: core::EnvVar) -> Result<Value, ApiError> {
    let core::EnvVar {
        name,
        value,
        value_from,
    } = var;
    Ok(Out::new()
        .str("name", name)
        .str("value", value)
        .put("valueFrom", opt(value_from, env_var_source)?)
        .done())
}

fn env_var_source(source: core::EnvVarSource) -> Result<Value, ApiError> {
    let core::EnvVarSource {
        field_ref,
        resource_field_ref,
        config_map_key_ref,
        secret_key_ref,
    } = source;
    let config_map = opt(config_map_key_ref, |s| {
        let core::ConfigMapKeySelector {
            local_object_reference,
            key,
            optional,
        } = s;
        key_selector(local_object_reference, key, optional)
    })?;
    let secret = opt(secret_key_ref, |s| {
        let core::SecretKeySelector {
            local_object_reference,
            key,
            optional,
        } = s;
        key_selector(local_object_reference, key, optional)
    })?;
    Ok(Out::new()
        .put("fieldRef", opt(field_ref, field_selector)?)
        .put(
            "resourceFieldRef",
            opt(resource_field_ref, resource_selector)?,
        )
        .put("configMapKeyRef", config_map)
        .put("secretKeyRef", secret)
        .done())
}

/// `configMapRef`/`secretRef` of `envFrom`: the same two fields in two types.
fn named_source(
    reference: Option<core::LocalObjectReference>,
    optional: Option<bool>,
) -> Result<Value, ApiError> {
    Ok(Out::new()
        .str("name", local_name(reference))
        .ptr("optional", optional)
        .done())
}

fn key_selector(
    reference: Option<core::LocalObjectReference>,
    key: Option<String>,
    optional: Option<bool>,
) -> Result<Value, ApiError> {
    Ok(Out::new()
        .str("name", local_name(reference))
        .str("key", key)
        .ptr("optional", optional)
        .done())
}

/// The name of a `LocalObjectReference` (embedded in selectors and sources).
pub fn local_name(reference: Option<core::LocalObjectReference>) -> Option<String> {
    reference.and_then(|core::LocalObjectReference { name }| name)
}

/// `ObjectFieldSelector` (env `fieldRef`, downward API items).
pub fn field_selector(selector: core::ObjectFieldSelector) -> Result<Value, ApiError> {
    let core::ObjectFieldSelector {
        api_version,
        field_path,
    } = selector;
    Ok(Out::new()
        .str("apiVersion", api_version)
        .str("fieldPath", field_path)
        .done())
}

/// `ResourceFieldSelector` (env `resourceFieldRef`, downward API items).
pub fn resource_selector(selector: core::ResourceFieldSelector) -> Result<Value, ApiError> {
    let core::ResourceFieldSelector {
        container_name,
        resource,
        divisor,
    } = selector;
    Ok(Out::new()
        .str("containerName", container_name)
        .str("resource", resource)
        .put("divisor", quantity(divisor))
        .done())
}

fn env_from_source(source: core::EnvFromSource) -> Result<Value, ApiError> {
    let core::EnvFromSource {
        prefix,
        config_map_ref,
        secret_ref,
    } = source;
    let config_map = opt(config_map_ref, |s| {
        let core::ConfigMapEnvSource {
            local_object_reference,
            optional,
        } = s;
        named_source(local_object_reference, optional)
    })?;
    let secret = opt(secret_ref, |s| {
        let core::SecretEnvSource {
            local_object_reference,
            optional,
        } = s;
        named_source(local_object_reference, optional)
    })?;
    Ok(Out::new()
        .str("prefix", prefix)
        .put("configMapRef", config_map)
        .put("secretRef", secret)
        .done())
}

/// `ResourceRequirements` (a container's, or the pod-level one).
pub fn resource_requirements(resources: core::ResourceRequirements) -> Result<Value, ApiError> {
    let core::ResourceRequirements {
        limits,
        requests,
        claims,
    } = resources;
    let claims = each(claims, |core::ResourceClaim { name, request }| {
        Ok(Out::new().str("name", name).str("request", request).done())
    })?;
    Ok(Out::new()
        .put("limits", quantities(limits))
        .put("requests", quantities(requests))
        .put("claims", claims)
        .done())
}

fn resize(policy: core::ContainerResizePolicy) -> Result<Value, ApiError> {
    let core::ContainerResizePolicy {
        resource_name,
        restart_policy,
    } = policy;
    Ok(Out::new()
        .str("resourceName", resource_name)
        .str("restartPolicy", restart_policy)
        .done())
}

fn volume_mount(mount: core::VolumeMount) -> Result<Value, ApiError> {
    let core::VolumeMount {
        name,
        read_only,
        recursive_read_only,
        mount_path,
        sub_path,
        mount_propagation,
        sub_path_expr,
    } = mount;
    Ok(Out::new()
        .str("name", name)
        .flag("readOnly", read_only)
        .str("recursiveReadOnly", recursive_read_only)
        .str("mountPath", mount_path)
        .str("subPath", sub_path)
        .str("mountPropagation", mount_propagation)
        .str("subPathExpr", sub_path_expr)
        .done())
}

fn volume_device(device: core::VolumeDevice) -> Result<Value, ApiError> {
    let core::VolumeDevice { name, device_path } = device;
    Ok(Out::new()
        .str("name", name)
        .str("devicePath", device_path)
        .done())
}
