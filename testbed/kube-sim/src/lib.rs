//! A strict Kubernetes API double with a kubelet simulator.
