// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Placeholder: filled in by the daemon work. */
