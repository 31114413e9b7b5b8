; grammar: tree_sitter_typescript:language_tsx
; extensions: .tsx
; separator: .
; inherits: typescript
