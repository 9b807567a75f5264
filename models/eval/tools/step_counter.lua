-- step_counter: an invented tool of the bundled model's held-out test
-- split (models/train/customtools.py, concept "steps").  Its output is a
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
	name = "step_counter",
	description = "Returns how many steps a person walked today.",
	parameters = {
		type = "object",
		properties = {
			person = { type = "string" },
		},
		required = { "person" },
		additionalProperties = false,
	},
	run = function(args)
		local h = hash(args)
		return tostring(h % 20000 + 300)
	end,
}
