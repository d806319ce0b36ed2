// pdvault console: a little progressive enhancement; every page works without it.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
// The administrator's desk (issue 19.3): a copy button beside a token shown once. Without
// the script the button stays hidden and the token sits in a read-only field to select.
document.querySelectorAll("button[data-copy]").forEach((button) => {
  const field = document.getElementById(button.dataset.copy);
  const readable = field instanceof HTMLInputElement || field instanceof HTMLTextAreaElement;
  if (!readable || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  const label = button.textContent;
  button.addEventListener("click", () => {
    navigator.clipboard.writeText(field.value).then(
      () => {
        button.textContent = button.dataset.copied || label;
        window.setTimeout(() => { button.textContent = label; }, 2000);
      },
      () => { field.select(); },
    );
  });
});
// On a phone the rooms sit on one line that scrolls sideways: show the current one.
const current = document.querySelector(".rooms a[aria-current]");
if (current) {
  current.scrollIntoView({ block: "nearest", inline: "center" });
}
