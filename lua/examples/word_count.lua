-- word_count: counts the words, lines and characters of a text.
--
-- A Lua tool is a file that returns a table with a name, a one-line
-- description (it goes into every prompt), parameters (the JSON Schema of
-- the arguments, written as a Lua table) and run(args), which returns the
-- result as text, and true as a second value when the call failed.
-- agentd checks the arguments against the schema before run sees them.

local MAX_TEXT = 100000

return {
	name = "word_count",
	description = "Counts the words, lines and characters of a text.",
	parameters = {
		type = "object",
		properties = {
			text = {
				type = "string",
				description = "the text to count",
				maxLength = MAX_TEXT,
			},
		},
		required = { "text" },
		additionalProperties = false,
	},
	run = function(args)
		local text = args.text
		local words = 0
		for _ in text:gmatch("%S+") do
			words = words + 1
		end
		local lines = 0
		if #text > 0 then
			local _, newlines = text:gsub("\n", "")
			lines = newlines + 1
			if text:sub(-1) == "\n" then
				lines = lines - 1
			end
		end
		-- utf8.len counts code points and returns nil (with the
		-- position) for bytes that are not UTF-8.
		local chars, bad = utf8.len(text)
		if chars == nil then
			return string.format("invalid UTF-8 at byte %d", bad), true
		end
		return string.format("%d words, %d lines, %d characters",
		    words, lines, chars)
	end,
}
