-- museum_hours: an invented tool of the bundled model's held-out test
-- split (models/train/customtools.py, concept "museum").  Its output is a
-- made-up but deterministic function of the arguments: h, the hash of
-- the argument values in sorted key order joined by "|", as
-- customtools.tool_hash() computes it.
local function hash(args)
	local keys = {}
	for k in pairs(args) do
		keys[#keys + 1] = k
	end
	table.sort(keys)
	local parts = {}
	for i, k in ipairs(keys) do
		parts[i] = tostring(args[k])
	end
	local h = 7
	local s = table.concat(parts, "|")
	for i = 1, #s do
		h = (h * 31 + s:byte(i)) % 1000003
	end
	return h
end

return {
	name = "museum_hours",
	description = "Returns the opening hours of a museum.",
	parameters = {
		type = "object",
		properties = {
			museum = { type = "string" },
		},
		required = { "museum" },
		additionalProperties = false,
	},
	run = function(args)
		local h = hash(args)
		return string.format("%02d:00-%02d:00", 8 + h % 3, 16 + h % 5)
	end,
}
