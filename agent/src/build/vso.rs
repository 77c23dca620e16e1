//! Azure Pipelines logging commands.

/// `##vso[task.setvariable variable=<name>;isOutput=true]<value>`: makes `value` available to
/// later steps and jobs as an output variable of this step.
pub fn set_output_variable(name: &str, value: &str) -> String {
    // Logging commands end at the line break; a value can never contain one here (digests and
    // refs are validated), but strip them defensively so nothing else can be injected.
    let value: String = value.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    format!("##vso[task.setvariable variable={name};isOutput=true]{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_variable_line_has_the_azure_pipelines_shape() {
        assert_eq!(
            set_output_variable("imageDigest", "sha256:ab"),
            "##vso[task.setvariable variable=imageDigest;isOutput=true]sha256:ab"
        );
        assert_eq!(
            set_output_variable("x", "a\n##vso[task.complete]"),
            "##vso[task.setvariable variable=x;isOutput=true]a##vso[task.complete]"
        );
    }
}
