<!-- placeholder: the page lands with the console-page branch -->
