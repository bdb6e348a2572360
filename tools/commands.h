/* SPDX-License-Identifier: MIT */
/* One entry point per verb; argv[0] is the verb itself. Each returns the
 * process exit status. */
#pragma once

int cmd_run(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_logs(int argc, char **argv);
/* ward logs ship (argv[0] is "ship"; docs/fleet.md) */
int cmd_logs_ship(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_daemon(int argc, char **argv);
/* ward policy explain|suggest|test (argv[0] is the subcommand) */
int cmd_policy_explain(int argc, char **argv);
int cmd_policy_test(int argc, char **argv);
int cmd_policy_suggest(int argc, char **argv);
/* the daemon's client verbs (docs/daemon.md) */
int cmd_sandbox(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_sessions(int argc, char **argv);
int cmd_secret(int argc, char **argv);
/* ward host enforce|status|stop (docs/host.md) */
int cmd_host(int argc, char **argv);
