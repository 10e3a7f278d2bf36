// Package notify posts the outcome of a tidegate run to chat webhooks
// (Slack, Discord, Microsoft Teams) or to any HTTP endpoint as JSON.
//
// tidegate runs once and exits, usually unattended in a CronJob or a CI
// job, so nobody watches its output: a webhook is how a failed or
// surprising run reaches a person. That shapes the package:
//
//   - It knows nothing of the commands. The caller converts its report
//     into an Event, so this package cannot reach Secret data or
//     credentials by accident: it sends only what it is handed. Event
//     fields must already be safe to show: Source without credentials,
//     Markdown and Err with Secret values masked, as tidegate's reports
//     already are.
//   - A webhook URL is a password: Slack and Discord put the token in the
//     path, Teams Workflows a signature in the query. No error, log line or
//     String method of this package prints more than the scheme and host
//     of a target (see Redact), because errors end up in CI logs that many
//     people can read.
//   - A notification must not change the run's result or hold it up:
//     every target gets the same bounded time (WithTimeout) and targets are
//     posted to concurrently, so one slow or dead webhook cannot starve the
//     others. The caller decides what a failed notification means, usually
//     a warning.
//   - Transient failures are retried (5xx, 429 and network errors), because
//     a one-shot run has no "next time soon" to fall back on; client errors
//     are not, because resending the same payload cannot fix them.
//   - Each payload follows the service's documented incoming-webhook format
//     and stays within its documented size limits, truncating the change
//     table rather than having the whole message rejected.
package notify
