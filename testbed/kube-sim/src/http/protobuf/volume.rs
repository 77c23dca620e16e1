//! Decoding of pod volumes: emptyDir, hostPath, secret, configMap, persistentVolumeClaim,
//! downwardAPI and projected. Every other volume source is refused by name.

use k8s_pb::api::core::v1 as core;
use serde_json::Value;

use super::container::{field_selector, local_name, resource_selector};
use super::json::{Out, each, opt, refuse};
use super::meta::quantity;
use crate::error::ApiError;

pub fn volume(volume: core::Volume) -> Result<Value, ApiError> {
    let core::Volume {
        name,
        volume_source,
    } = volume;
    let mut out = Out::new().str("name", name);
    if let Value::Object(source) = volume_source_of(volume_source.unwrap_or_default())? {
        for (key, value) in source {
            out = out.keep(&key, value);
        }
    }
    Ok(out.done())
}

fn volume_source_of(source: core::VolumeSource) -> Result<Value, ApiError> {
    // One line per few fields: the exhaustive list is the point, not its layout.
    #[rustfmt::skip]
    let core::VolumeSource {
        host_path, empty_dir, gce_persistent_disk, aws_elastic_block_store, git_repo, secret, nfs,
        iscsi, glusterfs, persistent_volume_claim, rbd, flex_volume, cinder, cephfs, flocker,
        downward_api, fc, azure_file, config_map, vsphere_volume, quobyte, azure_disk,
        photon_persistent_disk, projected, portworx_volume, scale_io, storageos, csi, ephemeral,
        image,
    } = source;
    let refused = [
        ("gcePersistentDisk", gce_persistent_disk.is_some()),
        ("awsElasticBlockStore", aws_elastic_block_store.is_some()),
        ("gitRepo", git_repo.is_some()),
        ("nfs", nfs.is_some()),
        ("iscsi", iscsi.is_some()),
        ("glusterfs", glusterfs.is_some()),
        ("rbd", rbd.is_some()),
        ("flexVolume", flex_volume.is_some()),
        ("cinder", cinder.is_some()),
        ("cephfs", cephfs.is_some()),
        ("flocker", flocker.is_some()),
        ("fc", fc.is_some()),
        ("azureFile", azure_file.is_some()),
        ("vsphereVolume", vsphere_volume.is_some()),
        ("quobyte", quobyte.is_some()),
        ("azureDisk", azure_disk.is_some()),
        ("photonPersistentDisk", photon_persistent_disk.is_some()),
        ("portworxVolume", portworx_volume.is_some()),
        ("scaleIO", scale_io.is_some()),
        ("storageos", storageos.is_some()),
        ("csi", csi.is_some()),
        ("ephemeral", ephemeral.is_some()),
        ("image", image.is_some()),
    ];
    for (field, set) in refused {
        refuse(&format!("VolumeSource.{field}"), set)?;
    }
    let pvc = opt(persistent_volume_claim, |pvc| {
        let core::PersistentVolumeClaimVolumeSource {
            claim_name,
            read_only,
        } = pvc;
        Ok(Out::new()
            .str("claimName", claim_name)
            .flag("readOnly", read_only)
            .done())
    })?;
    Ok(Out::new()
        .keep("hostPath", opt(host_path, host_path_source)?)
        .keep("emptyDir", opt(empty_dir, empty_dir_source)?)
        .keep("secret", opt(secret, secret_source)?)
        .keep("persistentVolumeClaim", pvc)
        .keep("downwardAPI", opt(downward_api, downward_api_source)?)
        .keep("configMap", opt(config_map, config_map_source)?)
        .keep("projected", opt(projected, projected_source)?)
        .done())
}

fn host_path_source(source: core::HostPathVolumeSource) -> Result<Value, ApiError> {
    let core::HostPathVolumeSource { path, r#type } = source;
    Ok(Out::new().str("path", path).ptr("type", r#type).done())
}

fn empty_dir_source(source: core::EmptyDirVolumeSource) -> Result<Value, ApiError> {
    let core::EmptyDirVolumeSource { medium, size_limit } = source;
    Ok(Out::new()
        .str("medium", medium)
        .put("sizeLimit", quantity(size_limit))
        .done())
}

fn secret_source(source: core::SecretVolumeSource) -> Result<Value, ApiError> {
    let core::SecretVolumeSource {
        secret_name,
        items,
        default_mode,
        optional,
    } = source;
    Ok(Out::new()
        .str("secretName", secret_name)
        .put("items", each(items, key_to_path)?)
        .ptr("defaultMode", default_mode)
        .ptr("optional", optional)
        .done())
}

fn config_map_source(source: core::ConfigMapVolumeSource) -> Result<Value, ApiError> {
    let core::ConfigMapVolumeSource {
        local_object_reference,
        items,
        default_mode,
        optional,
    } = source;
    Ok(Out::new()
        .str("name", local_name(local_object_reference))
        .put("items", each(items, key_to_path)?)
        .ptr("defaultMode", default_mode)
        .ptr("optional", optional)
        .done())
}

fn downward_api_source(source: core::DownwardAPIVolumeSource) -> Result<Value, ApiError> {
    let core::DownwardAPIVolumeSource {
        items,
        default_mode,
    } = source;
    Ok(Out::new()
        .put("items", each(items, downward_api_file)?)
        .ptr("defaultMode", default_mode)
        .done())
}

fn key_to_path(item: core::KeyToPath) -> Result<Value, ApiError> {
    let core::KeyToPath { key, path, mode } = item;
    Ok(Out::new()
        .str("key", key)
        .str("path", path)
        .ptr("mode", mode)
        .done())
}

fn downward_api_file(file: core::DownwardAPIVolumeFile) -> Result<Value, ApiError> {
    let core::DownwardAPIVolumeFile {
        path,
        field_ref,
        resource_field_ref,
        mode,
    } = file;
    Ok(Out::new()
        .str("path", path)
        .put("fieldRef", opt(field_ref, field_selector)?)
        .put(
            "resourceFieldRef",
            opt(resource_field_ref, resource_selector)?,
        )
        .ptr("mode", mode)
        .done())
}

fn projected_source(source: core::ProjectedVolumeSource) -> Result<Value, ApiError> {
    let core::ProjectedVolumeSource {
        sources,
        default_mode,
    } = source;
    Ok(Out::new()
        .put("sources", each(sources, projection)?)
        .ptr("defaultMode", default_mode)
        .done())
}

fn projection(projection: core::VolumeProjection) -> Result<Value, ApiError> {
    let core::VolumeProjection {
        secret,
        downward_api,
        config_map,
        service_account_token,
        cluster_trust_bundle,
    } = projection;
    refuse(
        "VolumeProjection.clusterTrustBundle",
        cluster_trust_bundle.is_some(),
    )?;
    let secret = opt(secret, |s| {
        let core::SecretProjection {
            local_object_reference,
            items,
            optional,
        } = s;
        projected_object(local_object_reference, items, optional)
    })?;
    let config_map = opt(config_map, |c| {
        let core::ConfigMapProjection {
            local_object_reference,
            items,
            optional,
        } = c;
        projected_object(local_object_reference, items, optional)
    })?;
    let downward_api = opt(downward_api, |core::DownwardAPIProjection { items }| {
        Ok(Out::new()
            .put("items", each(items, downward_api_file)?)
            .done())
    })?;
    Ok(Out::new()
        .put("secret", secret)
        .put("downwardAPI", downward_api)
        .put("configMap", config_map)
        .put("serviceAccountToken", opt(service_account_token, token)?)
        .done())
}

fn projected_object(
    reference: Option<core::LocalObjectReference>,
    items: Vec<core::KeyToPath>,
    optional: Option<bool>,
) -> Result<Value, ApiError> {
    Ok(Out::new()
        .str("name", local_name(reference))
        .put("items", each(items, key_to_path)?)
        .ptr("optional", optional)
        .done())
}

fn token(projection: core::ServiceAccountTokenProjection) -> Result<Value, ApiError> {
    let core::ServiceAccountTokenProjection {
        audience,
        expiration_seconds,
        path,
    } = projection;
    Ok(Out::new()
        .str("audience", audience)
        .ptr("expirationSeconds", expiration_seconds)
        .str("path", path)
        .done())
}
