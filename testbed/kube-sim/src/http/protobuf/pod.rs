//! Decoding of v1 `Pod`: the spec as far as kube-sim converts it (unsupported fields are
//! refused by name), and a status that must be empty, as a create body's is.

use k8s_pb::api::core::v1 as core;
use serde_json::Value;

use super::container::{container, local_name, resource_requirements};
use super::json::{Out, each, opt, refuse};
use super::meta::{object_meta, quantities, time};
use super::security::pod_security_context;
use super::volume::volume;
use crate::error::ApiError;

pub fn pod(pod: core::Pod) -> Result<Value, ApiError> {
    let core::Pod {
        metadata,
        spec,
        status,
    } = pod;
    empty_status(status.unwrap_or_default())?;
    Ok(Out::new()
        .put("metadata", object_meta(metadata)?)
        .put("spec", opt(spec, pod_spec)?)
        .done())
}

/// Refuses what `PodSpec` fields kube-sim does not convert, before converting the rest.
fn refuse_unconverted(spec: &core::PodSpec) -> Result<(), ApiError> {
    let refused = [
        ("ephemeralContainers", !spec.ephemeral_containers.is_empty()),
        ("affinity", spec.affinity.is_some()),
        ("hostAliases", !spec.host_aliases.is_empty()),
        ("dnsConfig", spec.dns_config.is_some()),
        ("readinessGates", !spec.readiness_gates.is_empty()),
        (
            "topologySpreadConstraints",
            !spec.topology_spread_constraints.is_empty(),
        ),
        ("os", spec.os.is_some()),
        ("schedulingGates", !spec.scheduling_gates.is_empty()),
        ("resourceClaims", !spec.resource_claims.is_empty()),
    ];
    for (field, set) in refused {
        refuse(&format!("PodSpec.{field}"), set)?;
    }
    Ok(())
}

fn pod_spec(spec: core::PodSpec) -> Result<Value, ApiError> {
    refuse_unconverted(&spec)?;
    // One line per few fields: the exhaustive list is the point, not its layout.
    #[rustfmt::skip]
    let core::PodSpec {
        volumes, init_containers, containers, ephemeral_containers: _, restart_policy,
        termination_grace_period_seconds, active_deadline_seconds, dns_policy, node_selector,
        service_account_name, service_account, automount_service_account_token, node_name,
        host_network, host_pid, host_ipc, share_process_namespace, security_context,
        image_pull_secrets, hostname, subdomain, affinity: _, scheduler_name, tolerations,
        host_aliases: _, priority_class_name, priority, dns_config: _, readiness_gates: _,
        runtime_class_name, enable_service_links, preemption_policy, overhead,
        topology_spread_constraints: _, set_hostname_as_fqdn, os: _, host_users,
        scheduling_gates: _, resource_claims: _, resources,
    } = spec;
    let pull_secrets = each(image_pull_secrets, |r| {
        Ok(Out::new().str("name", local_name(Some(r))).done())
    })?;
    Ok(Out::new()
        .put("volumes", each(volumes, volume)?)
        .put("initContainers", each(init_containers, container)?)
        .put("containers", each(containers, container)?)
        .str("restartPolicy", restart_policy)
        .ptr(
            "terminationGracePeriodSeconds",
            termination_grace_period_seconds,
        )
        .ptr("activeDeadlineSeconds", active_deadline_seconds)
        .str("dnsPolicy", dns_policy)
        .map("nodeSelector", node_selector)
        .str("serviceAccountName", service_account_name)
        .str("serviceAccount", service_account)
        .ptr(
            "automountServiceAccountToken",
            automount_service_account_token,
        )
        .str("nodeName", node_name)
        .flag("hostNetwork", host_network)
        .flag("hostPID", host_pid)
        .flag("hostIPC", host_ipc)
        .ptr("shareProcessNamespace", share_process_namespace)
        .keep(
            "securityContext",
            opt(security_context, pod_security_context)?,
        )
        .put("imagePullSecrets", pull_secrets)
        .str("hostname", hostname)
        .str("subdomain", subdomain)
        .str("schedulerName", scheduler_name)
        .put("tolerations", each(tolerations, toleration)?)
        .str("priorityClassName", priority_class_name)
        .ptr("priority", priority)
        .ptr("runtimeClassName", runtime_class_name)
        .ptr("enableServiceLinks", enable_service_links)
        .ptr("preemptionPolicy", preemption_policy)
        .put("overhead", quantities(overhead))
        .ptr("setHostnameAsFQDN", set_hostname_as_fqdn)
        .ptr("hostUsers", host_users)
        .put("resources", opt(resources, resource_requirements)?)
        .done())
}

fn toleration(toleration: core::Toleration) -> Result<Value, ApiError> {
    let core::Toleration {
        key,
        operator,
        value,
        effect,
        toleration_seconds,
    } = toleration;
    Ok(Out::new()
        .str("key", key)
        .str("operator", operator)
        .str("value", value)
        .str("effect", effect)
        .ptr("tolerationSeconds", toleration_seconds)
        .done())
}

/// A create body carries the zero `PodStatus` (the protobuf encoding writes its empty strings);
/// anything set in it is refused by name rather than dropped.
fn empty_status(status: core::PodStatus) -> Result<(), ApiError> {
    let core::PodStatus {
        observed_generation,
        phase,
        conditions,
        message,
        reason,
        nominated_node_name,
        host_ip,
        host_ips,
        pod_ip,
        pod_ips,
        start_time,
        init_container_statuses,
        container_statuses,
        qos_class,
        ephemeral_container_statuses,
        resize,
        resource_claim_statuses,
    } = status;
    let text = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
    let set = [
        (
            "observedGeneration",
            observed_generation.is_some_and(|g| g != 0),
        ),
        ("phase", text(&phase)),
        ("conditions", !conditions.is_empty()),
        ("message", text(&message)),
        ("reason", text(&reason)),
        ("nominatedNodeName", text(&nominated_node_name)),
        ("hostIP", text(&host_ip)),
        ("hostIPs", !host_ips.is_empty()),
        ("podIP", text(&pod_ip)),
        ("podIPs", !pod_ips.is_empty()),
        ("startTime", !time(start_time).is_null()),
        ("initContainerStatuses", !init_container_statuses.is_empty()),
        ("containerStatuses", !container_statuses.is_empty()),
        ("qosClass", text(&qos_class)),
        (
            "ephemeralContainerStatuses",
            !ephemeral_container_statuses.is_empty(),
        ),
        ("resize", text(&resize)),
        ("resourceClaimStatuses", !resource_claim_statuses.is_empty()),
    ];
    for (field, set) in set {
        refuse(&format!("PodStatus.{field}"), set)?;
    }
    Ok(())
}
