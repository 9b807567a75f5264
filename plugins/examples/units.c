/*
 * units.c: an example agentd plugin, a unit converter.
 *
 * One tool, convert_units, converts a value between units of the same
 * kind (length, mass, volume, time, temperature).  It shows the parts of
 * plugins/agentd/tool.h a typical plugin uses: the entry point and its
 * descriptor, a JSON Schema with an enum, reading arguments through the
 * host's JSON accessors, an instance made by init() from the plugin's
 * config (units.json: {"precision": N}, the decimals kept, default 6) and
 * results built with host->result_printf().
 *
 * Build it like any plugin:
 *
 *	cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden \
 *	    -I/path/to/agentd -o units.so units.c
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "plugins/agentd/tool.h"

/* What the decimals may be set to, and the default. */
#define UNITS_PRECISION_DEFAULT 6
#define UNITS_PRECISION_MAX     12

/* A unit: base = value * scale + offset, in the kind's base unit. */
struct unit {
	const char *name;
	const char *kind;
	double scale;
	double offset;
};

/* Base units: metre, kilogram, litre, second, kelvin. */
static const struct unit units[] = {
	{ "mm", "length", 0.001, 0 },
	{ "cm", "length", 0.01, 0 },
	{ "m", "length", 1, 0 },
	{ "km", "length", 1000, 0 },
	{ "in", "length", 0.0254, 0 },
	{ "ft", "length", 0.3048, 0 },
	{ "yd", "length", 0.9144, 0 },
	{ "mi", "length", 1609.344, 0 },
	{ "mg", "mass", 0.000001, 0 },
	{ "g", "mass", 0.001, 0 },
	{ "kg", "mass", 1, 0 },
	{ "t", "mass", 1000, 0 },
	{ "oz", "mass", 0.028349523125, 0 },
	{ "lb", "mass", 0.45359237, 0 },
	{ "ml", "volume", 0.001, 0 },
	{ "l", "volume", 1, 0 },
	{ "gal", "volume", 3.785411784, 0 },
	{ "s", "time", 1, 0 },
	{ "min", "time", 60, 0 },
	{ "h", "time", 3600, 0 },
	{ "d", "time", 86400, 0 },
	{ "C", "temperature", 1, 273.15 },
	{ "F", "temperature", 5.0 / 9.0, 273.15 - 32 * 5.0 / 9.0 },
	{ "K", "temperature", 1, 0 },
};

/* One instance's settings, from its config. */
struct units_data {
	int precision;
};

static const struct agentd_host *host;

static const struct unit *
unit_find(const char *name)
{
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(units[i].name, name) == 0)
			return &units[i];
	}
	return NULL;
}

/*
 * Prints v with at most precision decimals, dropping trailing zeros
 * ("2.5", "3", not "2.500000").
 */
static void
number_format(double v, int precision, char *out, size_t size)
{
	size_t len;

	snprintf(out, size, "%.*f", precision, v);
	if (strchr(out, '.') != NULL) {
		len = strlen(out);
		while (len > 0 && out[len - 1] == '0')
			out[--len] = '\0';
		if (len > 0 && out[len - 1] == '.')
			out[--len] = '\0';
	}
	if (strcmp(out, "-0") == 0)
		snprintf(out, size, "0");
}

static void
convert(void *data, const struct agentd_tool *tool, const char *args,
    size_t args_len, struct agentd_call *call, struct agentd_result *res)
{
	const struct units_data *ud = data;
	const struct agentd_json *a = host->call_args(call);
	const struct unit *from, *to;
	const char *fname, *tname;
	char in[64], out[64];
	double value, base, result;

	(void)tool;
	(void)args;
	(void)args_len;
	/* The schema guarantees the types; the enum, the names. */
	if (host->json_number(host->json_get(a, "value"), &value) != 0) {
		host->result_printf(res, 1, "value must be a number");
		return;
	}
	fname = host->json_string(host->json_get(a, "from"), NULL);
	tname = host->json_string(host->json_get(a, "to"), NULL);
	from = fname != NULL ? unit_find(fname) : NULL;
	to = tname != NULL ? unit_find(tname) : NULL;
	if (from == NULL || to == NULL) {
		host->result_printf(res, 1, "unknown unit");
		return;
	}
	if (strcmp(from->kind, to->kind) != 0) {
		host->result_printf(res, 1, "cannot convert %s (%s) to %s (%s)",
		    from->name, from->kind, to->name, to->kind);
		return;
	}
	base = value * from->scale + from->offset;
	if (strcmp(from->kind, "temperature") == 0 && base < 0) {
		host->result_printf(
		    res, 1, "%g %s is below absolute zero", value, from->name);
		return;
	}
	result = (base - to->offset) / to->scale;
	if (!isfinite(result)) {
		host->result_printf(res, 1, "the result is out of range");
		return;
	}
	number_format(value, ud->precision, in, sizeof in);
	number_format(result, ud->precision, out, sizeof out);
	host->result_printf(
	    res, 0, "%s %s = %s %s", in, from->name, out, to->name);
}

static int
units_init(const struct agentd_host *h, struct agentd_plugin *plugin,
    const char *config, size_t config_len, void **data, char **error)
{
	const struct agentd_json *p;
	struct units_data *ud;
	int64_t precision = UNITS_PRECISION_DEFAULT;

	(void)config;
	(void)config_len;
	p = h->json_get(h->plugin_config(plugin), "precision");
	if (p != NULL &&
	    (h->json_int(p, &precision) != 0 || precision < 0 ||
	        precision > UNITS_PRECISION_MAX)) {
		*error = h->format(
		    "precision must be an integer 0..%d", UNITS_PRECISION_MAX);
		return -1;
	}
	ud = h->alloc(sizeof *ud);
	if (ud == NULL)
		return -1;
	ud->precision = (int)precision;
	*data = ud;
	h->log(plugin, AGENTD_LOG_DEBUG, "keeping %d decimals", ud->precision);
	return 0;
}

static void
units_fini(void *data)
{
	host->free(data);
}

static const struct agentd_tool tools[] = {
	{
	    .name = "convert_units",
	    .description = "Converts a quantity from one unit to another of "
	                   "the same kind (length, mass, volume, time or "
	                   "temperature).",
	    .schema =
	        "{\"type\": \"object\","
	        " \"properties\": {"
	        "  \"value\": {\"type\": \"number\","
	        "   \"minimum\": -1000000000000000,"
	        "   \"maximum\": 1000000000000000},"
	        "  \"from\": {\"type\": \"string\", \"enum\": [\"mm\","
	        "   \"cm\", \"m\", \"km\", \"in\", \"ft\", \"yd\", \"mi\","
	        "   \"mg\", \"g\", \"kg\", \"t\", \"oz\", \"lb\", \"ml\","
	        "   \"l\", \"gal\", \"s\", \"min\", \"h\", \"d\", \"C\","
	        "   \"F\", \"K\"]},"
	        "  \"to\": {\"type\": \"string\", \"enum\": [\"mm\","
	        "   \"cm\", \"m\", \"km\", \"in\", \"ft\", \"yd\", \"mi\","
	        "   \"mg\", \"g\", \"kg\", \"t\", \"oz\", \"lb\", \"ml\","
	        "   \"l\", \"gal\", \"s\", \"min\", \"h\", \"d\", \"C\","
	        "   \"F\", \"K\"]}},"
	        " \"required\": [\"value\", \"from\", \"to\"],"
	        " \"additionalProperties\": false}",
	    .call = convert,
	},
};

static const struct agentd_tool_module module = {
	.abi_version = AGENTD_ABI_VERSION,
	.struct_size = sizeof(struct agentd_tool_module),
	.name = "units",
	.version = "1.0",
	.init = units_init,
	.fini = units_fini,
	AGENTD_TOOLS(tools),
};

AGENTD_EXPORT const struct agentd_tool_module *
agentd_tool_init(const struct agentd_host *h)
{
	if (AGENTD_ABI_MAJOR(h->abi_version) != AGENTD_ABI_VERSION_MAJOR)
		return NULL;
	host = h;
	return &module;
}
