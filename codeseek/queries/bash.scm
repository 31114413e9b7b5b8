; grammar: tree_sitter_bash:language
; extensions: .sh .bash .zsh
; filenames: .bashrc .bash_profile .zshrc
; separator: .
(function_definition name: (word) @name) @definition.function
