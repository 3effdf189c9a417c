/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The configuration's schema, internal to src/config/: the words the file
 * uses for each enum, and the walk that fills struct pw_config from the
 * node tree. */
#ifndef PW_CONFIG_SCHEMA_H
#define PW_CONFIG_SCHEMA_H

#include "config/config.h"
#include "config/yaml.h"

/* Indexed by the enum: "close_wait", "exec", "inbound" ... */
extern const char *const pw_metric_words[PW_RM_MAX];
extern const char *const pw_notifier_words[PW_NK_ALERTMANAGER + 1];
extern const char *const pw_direction_words[PW_RD_OUTBOUND + 1];

/* Fills cfg from the document, with defaults for every key it leaves out
 * (an empty document means every default). 0, or -EINVAL with a message at
 * the first thing wrong, or -ENOMEM. On error cfg holds what was allocated
 * so far, for pw_config_free. */
int pw_schema_fill(const struct pw_yaml_doc *doc, const struct pw_yaml_err *err,
		   struct pw_config *cfg);

#endif
