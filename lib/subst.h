/*
 * Command parameters: "{{name}}" placeholders in a shell script, filled
 * with caller-supplied values so that a value is always data, never code.
 *
 * A placeholder is "{{", optional blanks (space, tab, CR, LF), a name of
 * 1..LK_SUBST_NAME_MAX bytes of [A-Za-z0-9_-] (or "ACS::" and the name of
 * a built-in environment parameter), optional blanks and "}}". Names are
 * matched case-insensitively. Anything else between braces ("{{ .Id }}",
 * "{{a b}}") is ordinary text and stays as it is.
 *
 * Each value is inserted as one literal word fragment, quoted for the
 * shell context the placeholder sits in (see docs/parameters.md): outside
 * quotes 'v' (with ' written '\''), inside '...' or "..." the quotes are
 * closed around it, inside a here-document body it is escaped as that
 * body needs. Contexts that cannot be made safe (comments, backquotes,
 * arithmetic, ${...}, $'...', [[ ]], array subscripts, here-document
 * delimiters, right after an unquoted $ or \) make the template invalid.
 * lk_subst_apply() re-reads its own output with the same shell lexer and
 * refuses any result in which a value is not purely literal or the script
 * around it reads differently from the template.
 *
 * Errors are negative LK_ERR_* codes; *errcodep is then the Alibaba Cloud
 * error code (one of the LK_SUBST_E_* strings below, static storage).
 */
#ifndef LK_SUBST_H
#define LK_SUBST_H

#include <stddef.h>

#define LK_SUBST_NAME_MAX	64		/* bytes per parameter name */
#define LK_SUBST_NAMES_MAX	20		/* distinct names per template */
#define LK_SUBST_VALS_MAX	10		/* keys per Parameters object */
#define LK_SUBST_VALUE_MAX	(16 * 1024)	/* bytes per value */
#define LK_SUBST_TEMPLATE_MAX	(64 * 1024)	/* bytes of template */
#define LK_SUBST_OUTPUT_MAX	(128 * 1024)	/* bytes of finished script */

/* Alibaba Cloud error codes (HTTP status in the comment). */
#define LK_SUBST_E_NOT_MATCHED	"Parameter.NotMatched"		/* 403 */
#define LK_SUBST_E_MISSING	"Parameter.MissingValue"	/* 400 */
#define LK_SUBST_E_COUNT	"ParameterCount.ExceedLimit"	/* 403 */
#define LK_SUBST_E_KEY_LONG	"ParameterKey.ExceedLimit"	/* 403 */
#define LK_SUBST_E_DUPLICATE	"ParameterKey.Duplicate"	/* 403 */
#define LK_SUBST_E_TYPE		"ParameterType.NotSupported"	/* 403 */
#define LK_SUBST_E_INVALID	"InvalidParameter.Parameters"	/* 400 */
#define LK_SUBST_E_CONTENT_LONG	"CmdContent.ExceedLimit"	/* 403 */
#define LK_SUBST_E_INTERNAL	"InternalError"			/* 500 */
/* latchkey's own, in Alibaba's style: a template that cannot be safe. */
#define LK_SUBST_E_CONTENT	"InvalidParameter.CommandContent" /* 400 */

/* A name and a NUL-terminated value; neither is owned by the struct. */
struct lk_subst_param {
	const char	*name;
	const char	*value;
};

/*
 * Checks a template (CreateCommand / RunCommand with EnableParameter) and
 * returns the names of its custom placeholders: deduplicated
 * case-insensitively, in order of first appearance, spelled as first
 * written, without the ACS:: built-ins. *namesp is a new array of *np new
 * strings (NULL and 0 when there are none); free it with
 * lk_subst_names_free(). Returns 0; or LK_ERR_TOO_LONG (template over
 * LK_SUBST_TEMPLATE_MAX: CmdContent.ExceedLimit; a name over
 * LK_SUBST_NAME_MAX: ParameterKey.ExceedLimit), LK_ERR_RANGE (more than
 * LK_SUBST_NAMES_MAX names: ParameterCount.ExceedLimit),
 * LK_ERR_INVALID_FORMAT (unknown ACS:: name, or a placeholder in a context
 * that cannot be made safe: InvalidParameter.CommandContent; see
 * lk_subst_explain()), LK_ERR_ALLOC (InternalError).
 */
int	lk_subst_scan(const char *tmpl, char ***namesp, size_t *np,
	    const char **errcodep);

/*
 * Writes to buf (always NUL-terminated when bufsz > 0) one English line
 * saying why lk_subst_scan() refuses tmpl, e.g. "line 3: {{user}} is
 * inside a comment", or "" when it accepts it. For the error Message.
 */
void	lk_subst_explain(const char *tmpl, char *buf, size_t bufsz);

/*
 * Produces the script to run (InvokeCommand / RunCommand).
 *   vals	the caller's Parameters object, already split into pairs (at
 *		most LK_SUBST_VALS_MAX; JSON numbers and booleans converted to
 *		their text by the caller, other types refused by the caller
 *		with LK_SUBST_E_TYPE)
 *   defaults	the command's declared defaults; a placeholder with neither
 *		a value nor a default is Parameter.MissingValue
 *   env	the built-ins, named with their prefix ("ACS::InstanceId")
 * On success *outp is a new NUL-terminated script (at most
 * LK_SUBST_OUTPUT_MAX bytes) and 0 is returned. Errors, *outp NULL:
 * everything lk_subst_scan() refuses; LK_ERR_RANGE (more than
 * LK_SUBST_VALS_MAX values: ParameterCount.ExceedLimit); LK_ERR_TOO_LONG
 * (key over LK_SUBST_NAME_MAX: ParameterKey.ExceedLimit; value over
 * LK_SUBST_VALUE_MAX: InvalidParameter.Parameters; script over
 * LK_SUBST_OUTPUT_MAX: CmdContent.ExceedLimit); LK_ERR_INVALID_FORMAT
 * (key given twice: ParameterKey.Duplicate; key with no placeholder:
 * Parameter.NotMatched; NULL value, or a value that would end a
 * here-document early or lose bytes there: InvalidParameter.Parameters);
 * LK_ERR_NOT_FOUND (placeholder without value or default, or ACS:: name
 * missing from env: Parameter.MissingValue); LK_ERR_ALLOC.
 */
int	lk_subst_apply(const char *tmpl, const struct lk_subst_param *vals,
	    size_t nvals, const struct lk_subst_param *defaults,
	    size_t ndefaults, const struct lk_subst_param *env, size_t nenv,
	    char **outp, const char **errcodep);

/*
 * For callers holding a decoded JSON string as (v, len): refuses a value
 * with a NUL byte (LK_ERR_BAD_CHAR) or over LK_SUBST_VALUE_MAX bytes
 * (LK_ERR_TOO_LONG), both InvalidParameter.Parameters. Call it before
 * handing the value to lk_subst_apply() as a C string, which would
 * otherwise silently end at the NUL.
 */
int	lk_subst_check_value(const char *v, size_t len,
	    const char **errcodep);

void	lk_subst_names_free(char **names, size_t n);

#endif
