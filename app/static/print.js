// Buttons marked data-action="print" print the page (no inline handlers: the CSP allows none).
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-action=print]")) window.print();
});
