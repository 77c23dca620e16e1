//! Decoding of container and pod security contexts.

use k8s_pb::api::core::v1 as core;
use serde_json::Value;

use super::json::{Out, each, opt};
use crate::error::ApiError;

/// A container's `securityContext`.
pub fn security_context(context: core::SecurityContext) -> Result<Value, ApiError> {
    let core::SecurityContext {
        capabilities,
        privileged,
        se_linux_options,
        windows_options,
        run_as_user,
        run_as_group,
        run_as_non_root,
        read_only_root_filesystem,
        allow_privilege_escalation,
        proc_mount,
        seccomp_profile,
        app_armor_profile,
    } = context;
    let capabilities = opt(capabilities, |core::Capabilities { add, drop }| {
        Ok(Out::new().strs("add", add).strs("drop", drop).done())
    })?;
    Ok(Out::new()
        .put("capabilities", capabilities)
        .ptr("privileged", privileged)
        .put("seLinuxOptions", opt(se_linux_options, se_linux)?)
        .put("windowsOptions", opt(windows_options, windows)?)
        .ptr("runAsUser", run_as_user)
        .ptr("runAsGroup", run_as_group)
        .ptr("runAsNonRoot", run_as_non_root)
        .ptr("readOnlyRootFilesystem", read_only_root_filesystem)
        .ptr("allowPrivilegeEscalation", allow_privilege_escalation)
        .ptr("procMount", proc_mount)
        .put("seccompProfile", opt(seccomp_profile, seccomp)?)
        .put("appArmorProfile", opt(app_armor_profile, app_armor)?)
        .done())
}

/// The pod's `securityContext`.
pub fn pod_security_context(context: core::PodSecurityContext) -> Result<Value, ApiError> {
    let core::PodSecurityContext {
        se_linux_options,
        windows_options,
        run_as_user,
        run_as_group,
        run_as_non_root,
        supplemental_groups,
        supplemental_groups_policy,
        fs_group,
        sysctls,
        fs_group_change_policy,
        seccomp_profile,
        app_armor_profile,
        se_linux_change_policy,
    } = context;
    let sysctls = each(sysctls, |core::Sysctl { name, value }| {
        Ok(
            serde_json::json!({"name": name.unwrap_or_default(), "value": value.unwrap_or_default()}),
        )
    })?;
    Ok(Out::new()
        .put("seLinuxOptions", opt(se_linux_options, se_linux)?)
        .put("windowsOptions", opt(windows_options, windows)?)
        .ptr("runAsUser", run_as_user)
        .ptr("runAsGroup", run_as_group)
        .ptr("runAsNonRoot", run_as_non_root)
        .put("supplementalGroups", Value::from(supplemental_groups))
        .ptr("supplementalGroupsPolicy", supplemental_groups_policy)
        .ptr("fsGroup", fs_group)
        .put("sysctls", sysctls)
        .ptr("fsGroupChangePolicy", fs_group_change_policy)
        .put("seccompProfile", opt(seccomp_profile, seccomp)?)
        .put("appArmorProfile", opt(app_armor_profile, app_armor)?)
        .ptr("seLinuxChangePolicy", se_linux_change_policy)
        .done())
}

fn seccomp(profile: core::SeccompProfile) -> Result<Value, ApiError> {
    let core::SeccompProfile {
        r#type,
        localhost_profile,
    } = profile;
    Ok(Out::new()
        .str("type", r#type)
        .ptr("localhostProfile", localhost_profile)
        .done())
}

fn app_armor(profile: core::AppArmorProfile) -> Result<Value, ApiError> {
    let core::AppArmorProfile {
        r#type,
        localhost_profile,
    } = profile;
    Ok(Out::new()
        .str("type", r#type)
        .ptr("localhostProfile", localhost_profile)
        .done())
}

fn se_linux(options: core::SeLinuxOptions) -> Result<Value, ApiError> {
    let core::SeLinuxOptions {
        user,
        role,
        r#type,
        level,
    } = options;
    Ok(Out::new()
        .str("user", user)
        .str("role", role)
        .str("type", r#type)
        .str("level", level)
        .done())
}

fn windows(options: core::WindowsSecurityContextOptions) -> Result<Value, ApiError> {
    let core::WindowsSecurityContextOptions {
        gmsa_credential_spec_name,
        gmsa_credential_spec,
        run_as_user_name,
        host_process,
    } = options;
    Ok(Out::new()
        .ptr("gmsaCredentialSpecName", gmsa_credential_spec_name)
        .ptr("gmsaCredentialSpec", gmsa_credential_spec)
        .ptr("runAsUserName", run_as_user_name)
        .ptr("hostProcess", host_process)
        .done())
}
