//go:build tools

// Package tools records the binaries built from this module.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
