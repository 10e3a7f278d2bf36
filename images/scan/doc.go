// Package scan asks container registries which tags a repository holds,
// and, for the tags a policy needs, their digests and creation times.
//
// It speaks the OCI distribution API through go-containerregistry: tag
// lists are paginated by the registry (Link headers) and remote.List
// follows them. Credentials come from a Docker config.json (the
// $DOCKER_CONFIG directory, or a Kubernetes kubernetes.io/dockerconfigjson
// Secret, which has the same "auths" format) or are anonymous.
//
// Registries rate-limit: a 429 or 5xx answer is retried with exponential
// backoff, and a Retry-After header is honoured (go-containerregistry's own
// retry ignores it, so the scanner disables that and wraps the transport
// itself). Repositories are scanned concurrently, Options.Concurrency at a
// time; one failing repository does not stop the others, its Result
// carries the error.
package scan
