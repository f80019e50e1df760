// The rules a run of a rule strategy ran with (the snapshot it stored, GET /api/runs/<id>/ "rules"),
// shown in the run's header; said so when the strategy's rules have been edited since.
import { $, el } from "./dom.js";

export function renderRunRules(run, current) {
  const box = $("#run-rules");
  if (!box) return;
  const rules = run?.rules;
  box.classList.toggle("d-none", !rules);
  if (!rules) {
    box.replaceChildren();
    return;
  }
  const edited = current && (current.entry_rule !== rules.entry_rule || current.exit_rule !== rules.exit_rule);
  box.replaceChildren(
    el("span", { class: "fw-semibold", text: "Rules this run ran with: " }),
    "entry ", el("code", { id: "run-entry-rule", text: rules.entry_rule }),
    " · exit ", el("code", { id: "run-exit-rule", text: rules.exit_rule }),
    edited ? el("span", { class: "badge text-bg-info ms-2", id: "run-rules-edited", text: "the strategy's rules have been edited since" }) : null,
  );
}
