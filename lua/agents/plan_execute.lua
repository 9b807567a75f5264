-- plan_execute: plans a task as a few numbered steps, carries out each
-- step with the ReAct loop and the tools, then writes the answer from
-- what the steps found.
--
-- Written for capable instruction-following models (it talks to them
-- through ctx.chat); the bundled small model is trained on the plain
-- ReAct format instead.  Every model call and step is a trace span, and
-- the plan and each step's result are sent as agent.event notifications.

local MAX_STEPS = 5      -- steps in a plan
local STEP_REACT = 4     -- ReAct iterations per step
local MAX_CONTEXT = 2000 -- bytes of earlier results shown to a step

local function trim(s)
	return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- The numbered lines of a plan ("1. ...", "2) ..."), at most MAX_STEPS.
local function parse_plan(text)
	local steps = {}
	for line in (text .. "\n"):gmatch("([^\n]*)\n") do
		local step = line:match("^%s*%d+[%.%)]%s*(.-)%s*$")
		if step ~= nil and step ~= "" then
			steps[#steps + 1] = step
			if #steps == MAX_STEPS then
				break
			end
		end
	end
	return steps
end

local function tool_lines(ctx)
	local lines = {}
	for _, t in ipairs(ctx.tools()) do
		lines[#lines + 1] = "- " .. t.name .. ": " .. t.description
	end
	if #lines == 0 then
		return "(no tools)"
	end
	return table.concat(lines, "\n")
end

-- What the earlier steps found, newest last, cut to MAX_CONTEXT bytes.
local function findings(steps, results, upto)
	local parts = {}
	for i = 1, upto do
		parts[#parts + 1] = string.format("Step %d (%s): %s", i,
		    steps[i], results[i])
	end
	local text = table.concat(parts, "\n")
	if #text > MAX_CONTEXT then
		text = "..." .. text:sub(-MAX_CONTEXT)
	end
	return text
end

local function plan(task, ctx)
	local reply = ctx.chat{
		messages = {
			{ role = "system", content = "You plan tasks for an " ..
			    "assistant that can use these tools:\n" ..
			    tool_lines(ctx) .. "\nReply with a numbered " ..
			    "list of at most " .. MAX_STEPS .. " short " ..
			    "steps, one per line, and nothing else. Use " ..
			    "one step when the task is simple." },
			{ role = "user", content = task },
		},
		max_tokens = 256,
		temperature = 0,
	}
	return parse_plan(reply)
end

return {
	name = "plan_execute",
	description = "Plans the task as numbered steps, carries out each step with the tools, then answers from the results.",
	run = function(task, ctx)
		local steps = ctx.span("plan", plan, task, ctx)
		if #steps == 0 then
			steps = { task }
		end
		ctx.emit{ type = "plan", steps = steps }

		local results = {}
		for i, step in ipairs(steps) do
			local input = step
			if i > 1 then
				input = "Task: " .. task .. "\nEarlier findings:\n" ..
				    findings(steps, results, i - 1) ..
				    "\nNow do this step: " .. step
			end
			local r = ctx.span("step " .. i, ctx.react,
			    { input = input, max_steps = STEP_REACT })
			if type(r.answer) == "string" then
				results[i] = r.answer
			else
				results[i] = "no result (" .. tostring(r.ending) ..
				    ")"
			end
			ctx.emit{ type = "step_result", index = i, step = step,
			    answer = results[i], ending = r.ending }
		end

		-- One step that answered the task itself needs no summary.
		if #steps == 1 and steps[1] == task then
			return results[1]
		end
		local answer = ctx.span("answer", ctx.chat, {
			messages = {
				{ role = "system", content = "Answer the task " ..
				    "from the findings. Reply with the answer " ..
				    "only, in one short paragraph." },
				{ role = "user", content = "Task: " .. task ..
				    "\nFindings:\n" ..
				    findings(steps, results, #steps) },
			},
			max_tokens = 256,
			temperature = 0,
		})
		return trim(answer)
	end,
}
