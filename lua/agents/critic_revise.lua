-- critic_revise: drafts an answer with the ReAct loop, then lets the
-- model criticise it and revise it until the critic accepts it or the
-- rounds run out.
--
-- Written for capable instruction-following models (the critic and the
-- reviser talk through ctx.chat).  Each draft, critique and revision is
-- a trace span and an agent.event.

local MAX_ROUNDS = 2

local function trim(s)
	return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- The critic says exactly "OK" (any case, a full stop allowed) when the
-- answer needs no change.
local function accepted(critique)
	local word = trim(critique):upper():gsub("%.$", "")
	return word == "OK"
end

local function critique(task, answer, ctx)
	return trim(ctx.chat{
		messages = {
			{ role = "system", content = "You review answers. If " ..
			    "the answer is correct, complete and answers " ..
			    "the task directly, reply with exactly OK. " ..
			    "Otherwise list its problems briefly." },
			{ role = "user", content = "Task: " .. task ..
			    "\nAnswer: " .. answer },
		},
		max_tokens = 200,
		temperature = 0,
	})
end

local function revise(task, answer, problems, ctx)
	return trim(ctx.chat{
		messages = {
			{ role = "system", content = "You improve answers. " ..
			    "Fix every problem the review lists and reply " ..
			    "with the improved answer only." },
			{ role = "user", content = "Task: " .. task ..
			    "\nAnswer: " .. answer .. "\nReview: " ..
			    problems },
		},
		max_tokens = 300,
		temperature = 0,
	})
end

return {
	name = "critic_revise",
	description = "Drafts an answer with the tools, then has it criticised and revised until the critic accepts it.",
	run = function(task, ctx)
		local draft = ctx.span("draft", ctx.react, { input = task })
		local answer = draft.answer
		if type(answer) ~= "string" or answer == "" then
			-- The loop gave up: start from a direct answer.
			answer = trim(ctx.span("draft fallback", ctx.chat, {
				messages = { { role = "user", content = task } },
				max_tokens = 300,
				temperature = 0,
			}))
		end
		ctx.emit{ type = "draft", answer = answer,
		    ending = draft.ending }

		for round = 1, MAX_ROUNDS do
			local problems = ctx.span("critique " .. round,
			    critique, task, answer, ctx)
			if accepted(problems) then
				ctx.emit{ type = "accepted", round = round }
				return answer
			end
			ctx.emit{ type = "critique", round = round,
			    text = problems }
			local revised = ctx.span("revise " .. round, revise,
			    task, answer, problems, ctx)
			if revised ~= "" then
				answer = revised
			end
			ctx.emit{ type = "revision", round = round,
			    answer = answer }
		end
		return answer
	end,
}
