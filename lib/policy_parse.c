/* SPDX-License-Identifier: GPL-2.0-or-later */
typedef int tg_placeholder_policy_parse;
