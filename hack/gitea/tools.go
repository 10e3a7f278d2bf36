//go:build tools

// Package tools records the Gitea server binary built from this module.
package tools

import _ "code.gitea.io/gitea"
