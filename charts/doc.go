// Package charts fetches Helm charts from where Flux's sources keep them
// and loads them with the Helm SDK, bounded like every other network
// read of tidegate.
//
// Three places hold a chart:
//
//	HTTP(S) repository  A HelmRepository: index.yaml at the repository
//	                    URL lists each chart's versions with the URLs
//	                    of their .tgz packages and, usually, a sha256
//	                    digest. A semver range picks the version; the
//	                    archive is checked against the digest.
//	OCI registry        A HelmRepository of type oci (the chart is
//	                    <url>/<name>, a semver range picks a tag) or an
//	                    OCIRepository (a tag, semver range or digest).
//	                    The chart is the manifest's layer of media type
//	                    application/vnd.cncf.helm.chart.content.v1.tar+gzip.
//	Directory           A chart in a Git checkout, read inside the
//	                    checkout only (symbolic links that leave it are
//	                    refused), with .helmignore honoured.
//
// A chart directory may declare dependencies (Chart.yaml's
// dependencies, requirements.yaml for apiVersion v1) that its charts/
// does not hold: packaged charts carry theirs, directories often do
// not. Those are fetched as helm dependency build would, each from its
// repository (an https:// index, an oci:// registry, or a file://
// directory of the same checkout), at the version the lock file pins or
// else the highest the range allows. Repositories named after helm repo
// add state (@name, alias:name) are refused: a one-shot run has none.
//
// A repository's credentials come from its secretRef's data, passed in
// as the map the caller read: username and password (basic auth),
// ca.crt (or caFile) for a private CA, tls.crt and tls.key (or certFile
// and keyFile) for a client certificate, and .dockerconfigjson for OCI.
// As in Flux, credentials go only to the repository's own host (scheme,
// host and port) unless PassCredentials is set: a package URL or a
// redirect to another host gets no Authorization header. No error prints
// a credential: URLs are shown without user info and the password, were
// a library to echo it, is replaced by "***".
//
// Every request has a deadline, each response a size cap (index,
// manifest and archive apart), and an archive is unpacked in memory with
// its own cap on the unpacked size; an entry that would land outside the
// chart (../, an absolute path, a link) refuses the whole chart. Nothing
// is written to disk except, with a cache directory, verified archives
// named by their digest.
package charts
