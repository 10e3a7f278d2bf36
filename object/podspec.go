package object

import "strings"

// PodSpecPath is where a workload kind keeps the spec of its pods, as
// field names from the object's root; ok is false for kinds that run no
// pods of their own. The kind is matched without regard to case, so that
// fluxctl-style references (shop:deployment/web) work too.
func PodSpecPath(kind string) (path []string, ok bool) {
	switch strings.ToLower(kind) {
	case "deployment", "statefulset", "daemonset", "replicaset", "job":
		return []string{"spec", "template", "spec"}, true
	case "cronjob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}, true
	case "pod":
		return []string{"spec"}, true
	}
	return nil, false
}
