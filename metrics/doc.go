// Package metrics turns the outcome of one tidegate run into Prometheus
// metrics, so drift and failures can be alerted on although tidegate is a
// one-shot tool (a CronJob or CI job) that nothing can scrape.
//
// There are two sinks, use either or both:
//
//   - WriteFile writes a file in the Prometheus text exposition format for
//     node_exporter's textfile collector (--collector.textfile.directory).
//     The file is replaced atomically (a temporary file in the same
//     directory, then a rename), so the collector never reads half a file.
//     Name it *.prom: the collector ignores other files. Use one file per
//     command and inventory, since each run overwrites the whole file.
//   - Push sends the same metrics to a Prometheus Pushgateway, grouped by
//     job "tidegate", inventory and command (see Grouping).
//
// The package knows nothing of the rest of tidegate: callers fill a Run.
//
// # Metric families
//
// Every series carries the labels command (e.g. "reconcile" or
// "images update") and inventory (the inventory's namespace/name, e.g.
// "default/tidegate"). All families are gauges.
//
//	tidegate_run_success                     1 if the run succeeded, 0 if it failed.
//	tidegate_run_duration_seconds            How long the run took.
//	tidegate_run_timestamp_seconds           Unix time the run ended (Start + Duration).
//	tidegate_last_success_timestamp_seconds  Unix time the last successful run ended.
//	tidegate_run_outcome{outcome="..."}      1 for how the run ended: ok, changes, failed,
//	                                         interrupted, or running (see below); 0 for
//	                                         the others, which are always present.
//	tidegate_objects{action="..."}           Objects by action. created, configured,
//	                                         unchanged, deleted, drifted, failed and
//	                                         skipped are always present (0 when none);
//	                                         other actions in Run.Objects are added.
//	tidegate_drifted_objects                 Objects whose live state differs from Git.
//	tidegate_image_bumps_pending             Image updates found but not yet applied.
//	tidegate_info{revision="...",version="..."}
//	                                         Always 1; the Git revision read and the
//	                                         tidegate version.
//
// # Alerting
//
// A run that did not succeed, or succeeded long ago, or a run that no
// longer happens at all, are three different failures. Alert on all of
// them:
//
//	# the last run failed
//	tidegate_run_success == 0
//
//	# no successful run for 2 hours (a failing CronJob, or one that stopped)
//	time() - tidegate_last_success_timestamp_seconds > 2 * 3600
//
//	# drift found and not corrected
//	tidegate_drifted_objects > 0
//
// tidegate_last_success_timestamp_seconds is only written by a successful
// run. A failed run keeps the previous value: WriteFile reads it back from
// the file it is about to replace (matching command and inventory), and
// Push sends a failed run with POST, which replaces only the families it
// sends, instead of PUT, which replaces the whole group. Until the first
// success the series does not exist, so also alert on
// absent(tidegate_last_success_timestamp_seconds{inventory="..."}) if a
// tidegate that never succeeded must page someone.
//
// A run that is killed (out of memory, SIGKILL) or crashes in a way Go
// cannot recover never writes its end. So tidegate writes the metrics
// twice: when the run starts, as a failed run with outcome "running"
// (keeping the last success time), and when it ends. A run that never
// ended therefore reads as failed (tidegate_run_success 0), and outcome
// running stays 1 past the run's deadline (--run-timeout):
//
//	# a run started and never finished
//	tidegate_run_outcome{outcome="running"} == 1 and time() - tidegate_run_timestamp_seconds > 3600
//
// For the textfile collector, node_textfile_mtime_seconds shows when the file was last
// written; for the Pushgateway, push_time_seconds when a group was last
// pushed.
package metrics
