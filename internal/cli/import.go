package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/importer"
)

// importBatch is how many commits one import request carries: a long history
// goes in several requests, each imported whole.
const importBatch = 5000

func newImportCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import history: past commits, deployments and incidents, for day-one readings",
		Long: `Import a team's history so that the delivery readings start from it rather than
from zero: the commits and release tags of a git repository, or the deployments and
incidents other tools recorded (the JSON format in the README). Importing the same
history again adds nothing.`,
		Example: `  prosper import git --app shop --repo . --tags 'v*'
  prosper import events --file history.json`,
	}
	cmd.AddCommand(newImportGitCmd(e), newImportEventsCmd(e))
	return cmd
}

func newImportGitCmd(e *env) *cobra.Command {
	var o importer.GitOptions
	cmd := &cobra.Command{
		Use:   "git --app APP",
		Short: "Import a local repository's commits, and its tags as past deployments",
		Long: `Reads the commits of a branch (with their parents) and the tags that match a
pattern from a repository on this machine, and sends them to prosper: each tag is a
past deployment of its commit at the tag's date (an annotated tag's tagger date, a
lightweight tag's commit date).`,
		Example: `  prosper import git --app shop
  prosper import git --app shop --repo ~/src/shop --branch master --tags 'release-*'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.App == "" {
				return fmt.Errorf("which app? pass --app NAME")
			}
			doc, err := importer.FromGit(cmd.Context(), o)
			if err != nil {
				return err
			}
			if len(doc.Commits) == 0 && len(doc.Deployments) == 0 {
				return fmt.Errorf("nothing to import: branch %s has no commits", o.Branch)
			}
			sum, err := e.importDocs(cmd.Context(), split(doc))
			if err != nil {
				return err
			}
			if len(doc.Deployments) == 0 {
				fmt.Fprintf(e.stdout, "no tag matches %q: no past deployments imported; pick the release tags with --tags\n", o.Tags)
			}
			printSummary(e.stdout, o.App, sum)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.App, "app", "", "the app whose history it is (required)")
	cmd.Flags().StringVar(&o.Dir, "repo", ".", "the git repository")
	cmd.Flags().StringVar(&o.Branch, "branch", "main", "the branch that is deployed")
	cmd.Flags().StringVar(&o.Tags, "tags", "v*", "the pattern of the tags that mark deployments")
	return cmd
}

func newImportEventsCmd(e *env) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:     "events --file FILE",
		Short:   "Import commits, deployments and incidents from other tools (JSON)",
		Example: "  prosper import events --file history.json\n  other-tool export | prosper import events --file -",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return fmt.Errorf("which file? pass --file FILE (- reads stdin)")
			}
			var r io.Reader = e.stdin
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return fmt.Errorf("read the import: %w", err)
				}
				defer f.Close()
				r = f
			}
			var doc importer.Document
			dec := json.NewDecoder(r)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&doc); err != nil {
				return fmt.Errorf("%s is not an import document: %v: the format is in the README (\"Incidents and history import\")", file, err)
			}
			sum, err := e.importDocs(cmd.Context(), []importer.Document{doc})
			if err != nil {
				return err
			}
			printSummary(e.stdout, "", sum)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the JSON document (- reads stdin)")
	return cmd
}

// importDocs sends the documents in order and adds up what they imported.
func (e *env) importDocs(ctx context.Context, docs []importer.Document) (importer.Summary, error) {
	var total importer.Summary
	cl, err := e.apiClient()
	if err != nil {
		return total, err
	}
	for _, doc := range docs {
		b, err := json.Marshal(doc)
		if err != nil {
			return total, err
		}
		res, err := cl.Send(ctx, http.MethodPost, "/api/import", "application/json", bytes.NewReader(b))
		if err != nil {
			return total, err
		}
		var sum importer.Summary
		err = json.NewDecoder(res.Body).Decode(&sum)
		res.Body.Close()
		if err != nil {
			return total, fmt.Errorf("read the answer of the import: %w", err)
		}
		total.Commits += sum.Commits
		total.Deployments += sum.Deployments
		total.Incidents += sum.Incidents
		total.Resolved += sum.Resolved
		total.Skipped += sum.Skipped
	}
	return total, nil
}

// split cuts a document into requests of at most importBatch commits; the
// deployments go with the last, once their commits are known.
func split(doc importer.Document) []importer.Document {
	var docs []importer.Document
	for len(doc.Commits) > importBatch {
		docs = append(docs, importer.Document{Commits: doc.Commits[:importBatch]})
		doc.Commits = doc.Commits[importBatch:]
	}
	return append(docs, doc)
}

func printSummary(w io.Writer, app string, s importer.Summary) {
	who := ""
	if app != "" {
		who = " of " + app
	}
	fmt.Fprintf(w, "imported%s: %d commits, %d deployments, %d incidents", who, s.Commits, s.Deployments, s.Incidents)
	if s.Resolved > 0 {
		fmt.Fprintf(w, ", %d incidents resolved", s.Resolved)
	}
	if s.Skipped > 0 {
		fmt.Fprintf(w, " (%d deployments and incidents imported before were skipped)", s.Skipped)
	}
	fmt.Fprintln(w)
}
