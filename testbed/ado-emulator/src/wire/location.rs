//! Location data: `OPTIONS _apis` and `GET _apis/connectionData`.

use serde::Serialize;
use serde_json::{Value, json};

/// One `ApiResourceLocation`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResourceLocation {
    /// Location GUID.
    pub id: &'static str,
    /// Area.
    pub area: &'static str,
    /// Resource name.
    pub resource_name: &'static str,
    /// Route template.
    pub route_template: &'static str,
    /// Resource version.
    pub resource_version: i32,
    /// Lowest api-version.
    pub min_version: &'static str,
    /// Highest api-version.
    pub max_version: &'static str,
    /// Released api-version.
    pub released_version: &'static str,
}

/// Highest api-version the emulator serves (`VssVersionOutOfRangeException` above it).
pub const MAX_VERSION: &str = "7.2";

const fn location(
    id: &'static str,
    area: &'static str,
    resource_name: &'static str,
    route_template: &'static str,
) -> ApiResourceLocation {
    ApiResourceLocation {
        id,
        area,
        resource_name,
        route_template,
        resource_version: 1,
        min_version: "1.0",
        max_version: MAX_VERSION,
        released_version: MAX_VERSION,
    }
}

/// Same, for a resource that was released at `released` (newer versions need `-preview`) and
/// whose newest resource version is `resource_version`.
const fn versioned(
    location: ApiResourceLocation,
    released: &'static str,
    resource_version: i32,
) -> ApiResourceLocation {
    ApiResourceLocation {
        released_version: released,
        resource_version,
        ..location
    }
}

/// Every location the emulator serves (ado-protocol.md §1 table; ids from the official clients).
///
/// Released versions: pools and agents are released at 7.1 (the public spec); sessions, messages
/// and job requests were never released (every official client asks for a `-preview` version;
/// inferred); connectionData is released at 1.0 (what `LocationHttpClient` asks for) and answers
/// `VssInvalidPreviewVersionException` to a plain 5.0–7.1, as live organizations do.
pub const LOCATIONS: &[ApiResourceLocation] = &[
    versioned(
        location(
            "a8c47e17-4d56-4a56-92bb-de7ea7dc65be",
            "distributedtask",
            "pools",
            "_apis/{area}/{resource}/{poolId}",
        ),
        "7.1",
        1,
    ),
    versioned(
        location(
            "e298ef32-5878-4cab-993c-043836571f42",
            "distributedtask",
            "agents",
            "_apis/{area}/pools/{poolId}/{resource}/{agentId}",
        ),
        "7.1",
        2,
    ),
    versioned(
        location(
            "134e239e-2df3-4794-a6f6-24f1f19ec8dc",
            "distributedtask",
            "sessions",
            "_apis/{area}/pools/{poolId}/{resource}/{sessionId}",
        ),
        "0.0",
        1,
    ),
    versioned(
        location(
            "c3a054f6-7a8a-49c0-944e-3a8e5d7adfd7",
            "distributedtask",
            "messages",
            "_apis/{area}/pools/{poolId}/{resource}/{messageId}",
        ),
        "0.0",
        1,
    ),
    versioned(
        location(
            "fc825784-c92a-4299-9221-998a02d1b54f",
            "distributedtask",
            "jobrequests",
            "_apis/{area}/pools/{poolId}/{resource}/{requestId}",
        ),
        "0.0",
        1,
    ),
    versioned(
        location(
            "8ffcd551-079c-493a-9c02-54346299d144",
            "distributedtask",
            "packages",
            "_apis/{area}/{resource}/{packageType}/{platform}/{version}",
        ),
        "0.0",
        2,
    ),
    location(
        "3e2b80f8-9e6f-441e-8393-005610692d9c",
        "FeatureAvailability",
        "FeatureFlags",
        "_apis/{resource}/{name}",
    ),
    location(
        "e81700f7-3be2-46de-8624-2eb35882fcaa",
        "Location",
        "ResourceAreas",
        "_apis/{resource}/{areaId}",
    ),
    versioned(
        location(
            "00d9565f-ed9c-4a06-9a50-00e7896ccab4",
            "Location",
            "ConnectionData",
            "_apis/{resource}",
        ),
        "1.0",
        1,
    ),
    // OAuth2ResourceIds.Token; the token endpoint itself takes no api-version.
    location(
        "cd12634c-1d0f-4a19-9ff3-17875b764932",
        "oauth2",
        "token",
        "_apis/{area}/{resource}",
    ),
];

/// Service definitions for `locationServiceData.serviceDefinitions` (same entries as `LOCATIONS`).
pub fn service_definitions() -> Vec<Value> {
    LOCATIONS
        .iter()
        .map(|l| {
            json!({
                "serviceType": l.area,
                "identifier": l.id,
                "displayName": l.resource_name,
                "description": "Resource Location",
                "relativePath": l.route_template,
                "relativeToSetting": "fullyQualified",
                "resourceVersion": l.resource_version,
                "minVersion": l.min_version,
                "maxVersion": l.max_version,
                "releasedVersion": l.released_version,
                "serviceOwner": "00000000-0000-0000-0000-000000000000",
                "toolId": "Framework",
                "locationMappings": [],
                "properties": {},
            })
        })
        .collect()
}
