-- unit_convert: converts a value between units of temperature, length
-- and mass.
--
-- Shows a schema with enums and a number, a lookup table built once per
-- call at load, and an error result (the second return value) for a
-- conversion that makes no sense.

-- Each unit: its quantity and how to go to and from the base unit
-- (kelvin, metre, kilogram).
local units = {
	celsius = { "temperature", function(v) return v + 273.15 end,
	    function(k) return k - 273.15 end },
	fahrenheit = { "temperature",
	    function(v) return (v - 32) * 5 / 9 + 273.15 end,
	    function(k) return (k - 273.15) * 9 / 5 + 32 end },
	kelvin = { "temperature", function(v) return v end,
	    function(k) return k end },
}

local function linear(quantity, factor)
	return { quantity, function(v) return v * factor end,
	    function(b) return b / factor end }
end

units.m = linear("length", 1)
units.km = linear("length", 1000)
units.cm = linear("length", 0.01)
units.mi = linear("length", 1609.344)
units.ft = linear("length", 0.3048)
units["in"] = linear("length", 0.0254)
units.kg = linear("mass", 1)
units.g = linear("mass", 0.001)
units.lb = linear("mass", 0.45359237)
units.oz = linear("mass", 0.028349523125)

local names = {}
for name in pairs(units) do
	names[#names + 1] = name
end
table.sort(names)

-- Six decimals at most, without trailing zeros: 212, 0.5, 3.28084.
local function format(v)
	local s = string.format("%.6f", v)
	s = s:gsub("0+$", ""):gsub("%.$", "")
	if s == "-0" then
		s = "0"
	end
	return s
end

return {
	name = "unit_convert",
	description = "Converts a value between units of temperature, length and mass.",
	parameters = {
		type = "object",
		properties = {
			value = { type = "number" },
			from = { type = "string", enum = names },
			to = { type = "string", enum = names },
		},
		required = { "value", "from", "to" },
		additionalProperties = false,
	},
	run = function(args)
		local from, to = units[args.from], units[args.to]
		if from[1] ~= to[1] then
			return string.format("cannot convert %s (%s) to %s (%s)",
			    args.from, from[1], args.to, to[1]), true
		end
		local result = to[3](from[2](args.value))
		if from[1] == "temperature" and from[2](args.value) < 0 then
			return "below absolute zero", true
		end
		return string.format("%s %s = %s %s", format(args.value),
		    args.from, format(result), args.to)
	end,
}
